import { randomBytes } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { inject } from 'vitest';
import { parseConfig, type Config, type ConfigInput } from '../../shared/config.js';
import { runCheck } from '../../shared/engine/check.js';
import type { RunOptions } from '../../shared/engine/context.js';
import type { Report } from '../../shared/report.js';
import type { Snapshot } from '../../shared/state/records.js';
import { StateStore } from '../../shared/state/store.js';
import { startDnsPeer, type Behaviour, type DnsPeer } from '../peers/dns.js';
import { startGitHubPeer, type GitHubPeer } from '../peers/github/index.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer } from '../peers/http.js';
import { fastPublisher } from '../support.js';

/**
 * Wires the real local peers (Azurite, a DNS server, an HTTP server with the real CAS page, the OpenAPI-checked
 * GitHub stand-in) to one config and runs checks through runCheck, measuring what each run cost.
 */

export const TOKEN = 'ghp_Engine0Scenario0Token0123456789abcdef';
export const CONFIG_NAME = 'prod';
export const BRANCH = `allowlist-drift/${CONFIG_NAME}`;
export const CAS_PATH = '/network-requirements.md';
export const TAGS_PATH = '/ServiceTags_Public.json';
export const FILES = {
  outsystems: 'firewall/outsystems.txt',
  cas: 'firewall/cas.json',
  tfvars: 'terraform/allowlist.auto.tfvars.json',
  tags: 'firewall/service-tags.txt',
} as const;

/** Public addresses (documentation ranges would be held by the special-range guard). */
/**
 * The weekly service-tags file of the repository cut down to `tag`, its entry kept verbatim but for its prefixes,
 * which `prefixes` may change (add to, or replace, the published ones).
 */
export function weeklyTag(tag: string, prefixes: (published: string[]) => string[] = (published) => published) {
  const file = JSON.parse(sharedFile('fixtures/service-tags/ServiceTags_Public_2025-11-07.json').toString('utf8')) as {
    changeNumber: number;
    cloud: string;
    values: Array<{ name: string; properties: { addressPrefixes: string[] } }>;
  };
  const entry = file.values.find((value) => value.name === tag)!;
  return {
    changeNumber: file.changeNumber,
    cloud: file.cloud,
    values: [{ ...entry, properties: { ...entry.properties, addressPrefixes: prefixes(entry.properties.addressPrefixes) } }],
  };
}

export const FE1_V4 = '52.16.1.10';
export const FE1_V6 = '2a05:d018:40::10';
export const FE2_V4 = '52.16.2.20';
export const NEW_V4 = '52.16.3.30';
export const OTHER_V4 = '52.16.4.40';

/** Defender for Cloud Apps EU1 portal and SIEM rows plus the mail servers of the 2024-06-20 page. */
const CAS_TARGET = { id: 'cas-eu', type: 'cas-docs', dataCenters: ['EU1'], sections: ['portal', 'siem', 'mail'] } as const;

const FRONT_ENDS = {
  'fe1.acme.test': { kind: 'answer', a: [FE1_V4], aaaa: [FE1_V6] },
  'fe2.acme.test': { kind: 'answer', a: [FE2_V4] },
} satisfies Record<string, Behaviour>;

export interface RunResult {
  readonly report: Report;
  /** GitHub HTTP requests this run sent, retries included. */
  readonly githubRequests: number;
  /** Table Storage HTTP requests this run sent, retries included. */
  readonly tableRequests: number;
}

export interface Harness {
  readonly config: Config;
  readonly dns: DnsPeer;
  readonly http: HttpPeer;
  readonly github: GitHubPeer;
  readonly store: StateStore;
  readonly table: TableClient;
  /** A run of this harness's config, or of a changed copy of it (same store, same peers). */
  run(options?: Partial<Omit<RunOptions, 'store' | 'env'>>): Promise<RunResult>;
  /** A run that is expected to throw; resolves to what it threw. */
  failedRun(options?: Partial<Omit<RunOptions, 'config' | 'store' | 'env'>>): Promise<unknown>;
  state(): Promise<Snapshot>;
  serveServiceTags(document: unknown): void;
  /** Serves another revision of the CAS page at CAS_PATH. */
  serveCasPage(markdown: string): void;
  /** Serves (or replaces) one document of the HTTP peer, e.g. a changed CAS page or a LifeTime API answer. */
  serve(path: string, body: string | Buffer, contentType: string): void;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Replaces or extends the default config (OutSystems + CAS targets, plain/json/tfvars-json files). */
  readonly config?: (defaults: ConfigInput, peers: { dns: DnsPeer; http: HttpPeer; github: GitHubPeer }) => ConfigInput;
  /** Holds every DNS reply this long, so a run stays inside its lease for a while. */
  readonly dnsDelayMs?: number;
  /** App settings beside GITHUB_TOKEN (a LifeTime token, say). */
  readonly env?: Readonly<Record<string, string>>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const [dns, http, github] = await Promise.all([
    startDnsPeer(FRONT_ENDS, { delayMs: options.dnsDelayMs ?? 0 }),
    startHttpPeer(),
    startGitHubPeer({ token: TOKEN, files: { 'README.md': '# network\n', 'firewall/other-rules.txt': 'keep me\n' } }),
  ]);
  const documents = new Map<string, { body: string | Buffer; contentType: string }>([
    [CAS_PATH, { body: sharedFile('fixtures/cas/network-requirements_2024-06-20.md'), contentType: 'text/plain; charset=utf-8' }],
  ]);
  http.handle((request, response) => routes(Object.fromEntries(documents))(request, response));
  const serve = (path: string, body: string | Buffer, contentType: string) => void documents.set(path, { body, contentType });

  const defaults: ConfigInput = {
    name: CONFIG_NAME,
    targets: [
      { id: 'acme-prod', type: 'outsystems', frontEnds: ['fe1.acme.test', 'fe2.acme.test'] },
      { ...CAS_TARGET, dataCenters: [...CAS_TARGET.dataCenters], sections: [...CAS_TARGET.sections], url: `${http.url}${CAS_PATH}` },
    ],
    // One query round and one try: a silent resolver costs 2.5 s, not the default four tries; shorter would
    // time out real answers on a busy machine.
    dns: { servers: [dns.server], timeoutMs: 2_500, tries: 1, stabilityQueries: 1 },
    http: { timeoutMs: 5_000 },
    // Off here, so that scenarios count only their PR's requests; test/engine/dashboard.test.ts turns it on.
    github: { owner: github.owner, repo: github.repo, base: github.base, apiUrl: github.url, dashboard: false },
    files: [
      { path: FILES.outsystems, format: 'plain', targets: ['acme-prod'] },
      { path: FILES.cas, format: 'json', targets: ['cas-eu'] },
      { path: FILES.tfvars, format: 'tfvars-json', variable: 'allowlist', targets: ['acme-prod', 'cas-eu'] },
    ],
    policy: { removeAfterMisses: 3 },
  };
  const config = parseConfig(options.config ? options.config(defaults, { dns, http, github }) : defaults);

  const connectionString = inject('azuriteConnectionString');
  const tableName = `engine${randomBytes(6).toString('hex')}`;
  const store = StateStore.fromSetting(connectionString, { tableName, maxRetries: 0 });
  await store.ensureTable();
  const table = TableClient.fromConnectionString(connectionString, tableName, { allowInsecureConnection: true });
  const env = { ...options.env, GITHUB_TOKEN: TOKEN };

  const runOptions = (overrides: Partial<RunOptions>): RunOptions => ({
    config,
    store,
    env,
    trigger: 'timer',
    dryRun: false,
    // Retry waits in milliseconds and unpaced writes: the protocol is the production one, only faster.
    publisher: fastPublisher(env),
    ...overrides,
  });

  return {
    config,
    dns,
    http,
    github,
    store,
    table,
    async run(overrides = {}) {
      const githubBefore = github.requests.length;
      const tableBefore = store.requestCount();
      const report = await runCheck(runOptions(overrides));
      return { report, githubRequests: github.requests.length - githubBefore, tableRequests: store.requestCount() - tableBefore };
    },
    failedRun(overrides = {}) {
      return runCheck(runOptions(overrides)).then(
        (report) => {
          throw new Error(`the run was expected to fail, but it reported ${JSON.stringify(report.pullRequest)}`);
        },
        (error: unknown) => error,
      );
    },
    state: () => store.read(config.name),
    serveServiceTags(document) {
      documents.set(TAGS_PATH, { body: JSON.stringify(document), contentType: 'application/json' });
    },
    serveCasPage(markdown) {
      serve(CAS_PATH, markdown, 'text/plain; charset=utf-8');
    },
    serve,
    async close() {
      await Promise.all([dns.close(), http.close(), github.close()]);
    },
  };
}
