import { randomBytes } from 'node:crypto';
import { parseConfig, type Config, type ConfigInput } from '../../shared/config.js';
import { runCheck } from '../../shared/engine/check.js';
import type { RunOptions } from '../../shared/engine/context.js';
import type { Report } from '../../shared/report.js';
import { StateStore } from '../../shared/state/store.js';
import { startDnsPeer, type DnsPeer } from '../peers/dns.js';
import { startGitHubPeer, type GitHubPeer } from '../peers/github/index.js';
import { routes, sharedFile, startHttpPeer, type Handler, type HttpPeer } from '../peers/http.js';
import { fastPublisher } from '../support.js';

/**
 * The world of one reliability scenario: peers for DNS, an upstream and GitHub, a config over them,
 * state tables of its own, and a full run with fast GitHub retries.
 */

export const TOKEN = 'ghp_ReliabilityB0Token0123456789abcdef01';
export const FRONT_END = 'acme-fe1.outsystemsenterprise.com';
/** A public address (documentation ranges are held by the special-range guard). */
export const FRONT_END_IP = '52.17.44.10';
export const CAS_PATH = '/cas/network-requirements.md';

export function uniqueTableName(prefix = 'relb'): string {
  return `${prefix}${randomBytes(6).toString('hex')}`;
}

export async function openStore(
  connectionString: string,
  tableName = uniqueTableName(),
  options: { maxRetries?: number; now?: () => Date } = {},
): Promise<StateStore> {
  const store = StateStore.fromSetting(connectionString, {
    tableName,
    maxRetries: options.maxRetries ?? 2,
    ...(options.now ? { now: options.now } : {}),
  });
  await store.ensureTable();
  return store;
}

export interface PeersOptions {
  /** Serve the real CAS page and add a cas-docs target reading it. */
  readonly cas?: boolean;
}

/** The outside world of one scenario: a DNS server for the OutSystems front-end, an upstream, and GitHub. */
export interface Peers {
  readonly dns: DnsPeer;
  readonly upstream: HttpPeer;
  readonly github: GitHubPeer;
  close(): Promise<void>;
}

/** The upstream's normal behaviour: the real CAS page. */
export function casPage(): Handler {
  return routes({
    [CAS_PATH]: { body: sharedFile('fixtures/cas/network-requirements_2024-06-20.md'), contentType: 'text/plain; charset=utf-8' },
  });
}

export async function startPeers(): Promise<Peers> {
  const [dns, upstream, github] = await Promise.all([
    startDnsPeer({ [FRONT_END]: { kind: 'answer', a: [FRONT_END_IP] } }),
    startHttpPeer(casPage()),
    startGitHubPeer({ token: TOKEN, files: { 'README.md': '# network\n', 'edl/outsystems.txt': '' } }),
  ]);
  return {
    dns,
    upstream,
    github,
    close: async () => {
      await Promise.all([dns.close(), upstream.close(), github.close()]);
    },
  };
}

/** A config over the peers: an OutSystems front-end, a static partner list, and two files in the repository. */
export function configInput(name: string, peers: Peers, options: PeersOptions & { githubUrl?: string } = {}): ConfigInput {
  return {
    name,
    targets: [
      { id: 'outsystems-prod', type: 'outsystems', frontEnds: [FRONT_END] },
      { id: 'partners', type: 'static', entries: ['198.51.100.10'] },
      ...(options.cas
        ? [
            {
              id: 'cas-mail',
              type: 'cas-docs' as const,
              url: `${peers.upstream.url}${CAS_PATH}`,
              dataCenters: '*' as const,
              sections: ['mail' as const],
            },
          ]
        : []),
    ],
    // Generous for a loaded machine: a local DNS peer answers at once, and a timeout would turn a scenario into another one.
    dns: { servers: [peers.dns.server], timeoutMs: 3000, tries: 2, stabilityQueries: 1 },
    files: [
      { path: 'edl/outsystems.txt', format: 'plain', targets: ['outsystems-prod'] },
      { path: 'allowlists/all.json', format: 'json', targets: ['outsystems-prod', 'partners'] },
    ],
    // The dashboard (an issue, written when something is held) is test/engine/dashboard.test.ts's; these runs count PR requests.
    github: { owner: peers.github.owner, repo: peers.github.repo, apiUrl: options.githubUrl ?? peers.github.url, dashboard: false },
  };
}

export function makeConfig(name: string, peers: Peers, options: PeersOptions & { githubUrl?: string } = {}): Config {
  return parseConfig(configInput(name, peers, options));
}

export const ENV = { GITHUB_TOKEN: TOKEN };

/** A full (publishing) check with fast GitHub retries. */
export function fullRun(config: Config, store: StateStore, overrides: Partial<RunOptions> = {}): Promise<Report> {
  return runCheck({ config, store, env: ENV, trigger: 'timer', dryRun: false, publisher: fastPublisher(ENV), ...overrides });
}

/** Pull requests the peer holds for a branch. */
export function pullsOn(github: GitHubPeer, branch: string) {
  return github.pullRequests().filter((p) => p.headRef === branch);
}

export function branchOf(config: Config): string {
  return `${config.github!.branchPrefix}${config.name}`;
}

/** Wraps one method of our own StateStore object so that its next call(s) fail, then behave normally again. */
export function failNextCalls<K extends 'write' | 'read'>(
  store: StateStore,
  method: K,
  error: () => Error,
  times = 1,
): { calls: () => number } {
  const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
  let calls = 0;
  (store as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    calls++;
    if (calls <= times) throw error();
    return original(...args);
  };
  return { calls: () => calls };
}
