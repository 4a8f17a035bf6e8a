import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { excludeCidr, mergeCidr } from 'cidr-tools';
import { parseConfig, type Config, type OutSystemsTarget } from '../shared/config.js';
import { runCheck } from '../shared/engine/check.js';
import { evaluateGuards } from '../shared/drift/guards.js';
import { aggregate, parseCidr, semanticDiff, type Cidr } from '../shared/ipset.js';
import { createGitHubPublisher } from '../shared/publish/github/publisher.js';
import { renderPullRequest } from '../shared/publish/pr-text.js';
import { observeOutSystems } from '../shared/sources/outsystems/index.js';
import { extractServiceTags } from '../shared/sources/service-tags/index.js';
import { startEmbeddedAzurite, type EmbeddedAzurite } from '../shared/state/embedded-azurite.js';
import { StateStore } from '../shared/state/store.js';
import { startDnsPeer } from '../test/peers/dns.js';
import { startGitHubPeer } from '../test/peers/github/index.js';
import { routes, startHttpPeer } from '../test/peers/http.js';
import { buildPackage, listFiles } from '../scripts/package.js';
import { FAST_GITHUB } from '../test/support.js';
import { firstRunInput, largestFirstPrInput } from '../test/publish/pr-cases.js';
import { awsIpRanges } from './aws.js';
import { QUEUE_BENCH, queueFigures, type QueueBenchSizes } from './queue.js';
import { quietRun } from './quiet-run.js';
import { splitFigures } from './split.js';
import { widening } from './capacity.js';
import { median, medianMs, medianPairMs, type Row } from './table.js';

/** How big each figure is; the smoke test runs the same code with tiny sizes. */
export interface BenchSizes {
  readonly frontEnds: number;
  readonly dnsDelayMs: number;
  /** Names resolved one by one for the sequential anchor, extrapolated to `frontEnds`. */
  readonly sequentialSample: number;
  readonly runs: number;
  /** How many service-tags prefixes the CIDR figure uses (all of them when larger than the file). */
  readonly prefixes: number;
  readonly guardHosts: number;
  readonly tableTargets: number;
  /** Targets of the large-config figures (state written in several transactions); default 1,000. */
  readonly largeTableTargets?: number;
  readonly checkFrontEnds: number;
  /** Child-process figures (peak RSS, cold start, CLI) need the compiled dist/ tree. */
  readonly processes: boolean;
  /** Figure 13: configs through the run queue by each count of worker processes (bundled from the sources, no dist/ needed). */
  readonly queue: QueueBenchSizes;
}

export const FULL: BenchSizes = {
  frontEnds: 1000,
  dnsDelayMs: 50,
  sequentialSample: 40,
  runs: 3,
  prefixes: Number.POSITIVE_INFINITY,
  guardHosts: 20_000,
  tableTargets: 20,
  checkFrontEnds: 50,
  processes: true,
  queue: QUEUE_BENCH,
};

const TOKEN = 'ghp_Bench0Token0000000000000000000000000';
const SERVICE_TAGS = 'fixtures/service-tags/ServiceTags_Public_2025-11-07.json';
const CAS_2024 = 'fixtures/cas/network-requirements_2024-06-20.md';

/** The project root: the nearest folder with package.json, whether this runs from bench/ or compiled in .bench/bench/. */
export function projectRoot(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(folder, 'package.json'))) {
    const parent = dirname(folder);
    if (parent === folder) throw new Error('no package.json above the bench');
    folder = parent;
  }
  return folder;
}

/** The upstream documents the tests serve, kept in the repository under test/fixtures/. */
function sharedPath(relative: string): string {
  return resolve(projectRoot(), 'test', relative);
}

function hostName(index: number): string {
  return `fe${index}.bench.example`;
}

/** 52.0.0.0/8 is public space, so no guard interferes; one address per front-end. */
function hostAddress(index: number): string {
  return `52.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
}

export async function dnsFanOut(sizes: BenchSizes): Promise<Row[]> {
  const zone = Object.fromEntries(
    Array.from({ length: sizes.frontEnds }, (_, i) => [hostName(i), { kind: 'answer' as const, a: [hostAddress(i)] }]),
  );
  const peer = await startDnsPeer(zone, { delayMs: sizes.dnsDelayMs });
  try {
    const hosts = Array.from({ length: sizes.frontEnds }, (_, i) => hostName(i));
    const observe = async (stabilityQueries: number) => {
      const config = parseConfig({
        name: 'bench',
        targets: [{ id: 'os', type: 'outsystems', frontEnds: hosts }],
        dns: { servers: [peer.server], stabilityQueries },
      });
      const target = config.targets[0] as OutSystemsTarget;
      const observation = await observeOutSystems(target, { config, env: {}, now: () => new Date() });
      if (observation.status !== 'ok' || observation.entries.length !== sizes.frontEnds) {
        throw new Error(
          `the DNS fan-out observed ${observation.status} with ${observation.entries.length} entries: ${JSON.stringify(observation.errors.slice(0, 2))}`,
        );
      }
    };
    const concurrency = parseConfig({ targets: [{ id: 'os', type: 'outsystems', frontEnds: ['x.example'] }] }).dns.concurrency;
    const floor = Math.ceil(sizes.frontEnds / concurrency) * sizes.dnsDelayMs;
    const resolver = new Resolver({ timeout: 5_000, tries: 1 });
    resolver.setServers([peer.server]);
    const sample = Math.min(sizes.sequentialSample, sizes.frontEnds);
    const sequential =
      ((await medianMs(1, async () => {
        for (const host of hosts.slice(0, sample)) await resolver.resolve4(host);
      })) *
        sizes.frontEnds) /
      sample;
    let lost = 0;
    const unbounded = await medianMs(sizes.runs, async () => {
      const settled = await Promise.allSettled(hosts.map((host) => resolver.resolve4(host)));
      lost = Math.max(lost, settled.filter((result) => result.status === 'rejected').length);
    });
    const perQuery = (rounds: number) => Math.ceil((sizes.frontEnds * (1 + 2 * rounds)) / concurrency) * sizes.dnsDelayMs;
    const rows: Row[] = [];
    for (const rounds of [1, 2]) {
      rows.push({
        figure: `1. DNS fan-out, ${sizes.frontEnds} front-ends, stabilityQueries=${rounds}`,
        ours: await medianMs(sizes.runs, () => observe(rounds)),
        anchor: floor,
        anchorName: `floor ceil(n/${concurrency})x${sizes.dnsDelayMs}ms`,
        unit: 'ms',
        goal: '<= 1.5x floor',
        note:
          `each front-end costs 1 CNAME + ${rounds}x(A + AAAA) = ${1 + 2 * rounds} queries, so the floor for our query count at concurrency ` +
          `${concurrency} is ${perQuery(rounds)} ms`,
      });
    }
    rows.push({
      figure: `1a. anchor: sequential Resolver.resolve4`,
      ours: sequential,
      unit: 'ms',
      goal: '-',
      note: `${sample} names measured one by one and extrapolated to ${sizes.frontEnds}; dns.lookup cannot be pointed at a loopback server (it uses the OS resolver), so the naive anchors use node:dns Resolver`,
    });
    rows.push({
      figure: '1b. anchor: unbounded Promise.all(resolve4)',
      ours: unbounded,
      unit: 'ms',
      goal: '-',
      note: `A only, no stability rounds, no concurrency bound; up to ${lost} of ${sizes.frontEnds} queries failed (ETIMEOUT) in a run, which is why the source bounds its concurrency`,
    });
    return rows;
  } finally {
    await peer.close();
  }
}

export async function serviceTags(sizes: BenchSizes): Promise<Row[]> {
  const text = readFileSync(sharedPath(SERVICE_TAGS), 'utf8');
  const { ours, anchor: bare } = await medianPairMs(
    sizes.runs + 4,
    () => extractServiceTags(text, ['MicrosoftCloudAppSecurity']),
    () => JSON.parse(text),
  );
  const rows: Row[] = [
    {
      figure: '2. service tags: extract MicrosoftCloudAppSecurity',
      ours,
      anchor: bare,
      anchorName: 'bare JSON.parse',
      unit: 'ms',
      goal: '<= 2x',
    },
  ];
  if (sizes.processes) {
    const root = projectRoot();
    const module = join(root, 'dist/shared/sources/service-tags/index.js');
    const file = sharedPath(SERVICE_TAGS);
    const read = `const text = (await import('node:fs')).readFileSync(${JSON.stringify(file)}, 'utf8');`;
    const ourRss = median(
      await repeat(sizes.runs, () =>
        childRss(
          `${read} const { extractServiceTags } = await import(${JSON.stringify(module)}); extractServiceTags(text, ['MicrosoftCloudAppSecurity']);`,
        ),
      ),
    );
    const bareRss = median(await repeat(sizes.runs, () => childRss(`${read} JSON.parse(text);`)));
    rows.push({
      figure: '2a. service tags: peak RSS of a fresh process',
      ours: ourRss,
      anchor: bareRss,
      anchorName: 'bare JSON.parse',
      unit: 'MB',
      goal: 'report',
    });
  }
  return rows;
}

export async function cidrAlgebra(sizes: BenchSizes): Promise<Row[]> {
  const document = JSON.parse(readFileSync(sharedPath(SERVICE_TAGS), 'utf8')) as {
    values: Array<{ properties: { addressPrefixes: string[] } }>;
  };
  const all = document.values
    .flatMap((value) => value.properties.addressPrefixes)
    .slice(0, sizes.prefixes)
    .map(parseCidr);
  const changed = onePercentChanged(all);
  const { ours, anchor } = await medianPairMs(
    sizes.runs + 4,
    () => {
      aggregate(all);
      semanticDiff(all, changed);
    },
    () => {
      mergeCidr(all);
      excludeCidr(changed, all);
      excludeCidr(all, changed);
    },
  );
  const hosts = Array.from({ length: sizes.guardHosts }, (_, i) => parseCidr(hostAddress(i)));
  const entries = hosts.map((cidr) => ({
    cidr,
    evidence: [
      {
        kind: 'dns' as const,
        hostname: 'fe.bench.example',
        recordType: 'A' as const,
        ttl: 300,
        resolver: '127.0.0.1:53',
        at: '2025-01-01T00:00:00Z',
      },
    ],
  }));
  const policy = parseConfig({ targets: [{ id: 's', type: 'static', entries: ['52.0.0.1'] }] }).policy;
  const baseline = hosts.slice(0, hosts.length - (hosts.length >> 4));
  const added = semanticDiff(baseline, hosts).added;
  const guards = await medianMs(sizes.runs, () =>
    evaluateGuards({ status: 'ok', entries, baseline, added, removalCandidates: [], policy }),
  );
  return [
    {
      figure: `3. CIDR: aggregate + semantic diff of ${all.length} prefixes vs 1% changed`,
      ours,
      anchor,
      anchorName: 'cidr-tools mergeCidr+excludeCidr x2',
      unit: 'ms',
      goal: '<= 1.0x',
    },
    { figure: `3a. guards on ${hosts.length} /32s`, ours: guards, unit: 'ms', goal: 'was 1.4 s before bulk classify' },
  ];
}

/** Every hundredth prefix moved to documentation-free public space elsewhere: 1 % of the list changes. */
function onePercentChanged(cidrs: readonly Cidr[]): Cidr[] {
  return cidrs.map((cidr, index) => (index % 100 === 0 ? parseCidr(`44.${(index >> 8) & 255}.${index & 255}.0/24`) : cidr));
}

export async function githubRequests(azurite: EmbeddedAzurite): Promise<Row[]> {
  const files = { 'firewall/a.txt': '', 'firewall/b.json': '[]\n', 'firewall/c.txt': '' };
  const peer = await startGitHubPeer({ owner: 'contoso', repo: 'network', token: TOKEN, files });
  const store = StateStore.fromSetting(azurite.connectionString, { tableName: uniqueTable('github') });
  await store.ensureTable();
  const config = (entries: string[]) =>
    parseConfig({
      name: 'bench',
      targets: [{ id: 'fixed', type: 'static', entries }],
      github: { owner: 'contoso', repo: 'network', apiUrl: peer.url },
      files: [
        { path: 'firewall/a.txt', format: 'plain', targets: ['fixed'] },
        { path: 'firewall/b.json', format: 'json', targets: ['fixed'] },
        { path: 'firewall/c.txt', format: 'plain', targets: ['fixed'] },
      ],
    });
  const check = async (current: Config) => (await checkRequests(current)).length;
  /** The run's requests, for figures that tell reads from writes. */
  const checkRequests = async (current: Config) => {
    const before = peer.requests.length;
    await runCheck({
      config: current,
      store,
      env: { GITHUB_TOKEN: TOKEN },
      trigger: 'cli',
      dryRun: false,
      publisher: (c) => createGitHubPublisher({ github: c.github!, configName: c.name, env: { GITHUB_TOKEN: TOKEN }, tuning: FAST_GITHUB }),
    });
    return peer.requests.slice(before);
  };
  try {
    const first = await check(config(['52.1.0.1', '52.1.0.2']));
    const update = await check(config(['52.1.0.1', '52.1.0.2', '52.1.0.3']));
    const quietOpen = await check(config(['52.1.0.1', '52.1.0.2', '52.1.0.3']));
    const open = peer.pullRequests().find((pull) => pull.state === 'open');
    if (!open) throw new Error('the bench expected an open pull request');
    peer.mergePullRequest(open.number);
    const afterMerge = await check(config(['52.1.0.1', '52.1.0.2', '52.1.0.3']));
    const quietRequests = await checkRequests(config(['52.1.0.1', '52.1.0.2', '52.1.0.3']));
    const quiet = quietRequests.length;
    // A /12 slipped into a list of hosts is held (mass-addition) even in a static list: the dashboard issue opens,
    // then is read once per held run. (A /0 would be refused by the config itself.)
    const heldEntries = ['52.1.0.1', '52.1.0.2', '52.1.0.3', '52.0.0.0/12'];
    const heldOpening = await check(config(heldEntries));
    const heldRun = await checkRequests(config(heldEntries));
    const released = await check(config(['52.1.0.1', '52.1.0.2', '52.1.0.3']));
    const quietWithDashboard = await check(config(['52.1.0.1', '52.1.0.2', '52.1.0.3']));
    if (peer.violations.length > 0)
      throw new Error(`GitHub peer saw requests its OpenAPI description rejects: ${JSON.stringify(peer.violations)}`);
    const contentsFlow = 2 * Object.keys(files).length + 2;
    return [
      {
        figure: '4. GitHub requests: first PR, 3 files',
        ours: first,
        anchor: contentsFlow,
        anchorName: 'Contents API flow',
        unit: 'requests',
        goal: '<= 6 + 1 per file',
        note: 'the base branch and its files are read first, so the PR changes what the base holds now',
      },
      {
        figure: '4a. GitHub requests: update with new drift',
        ours: update,
        anchor: contentsFlow,
        anchorName: 'Contents API flow',
        unit: 'requests',
        goal: 'report',
      },
      {
        figure: '4b. GitHub requests: no-op run, PR open',
        ours: quietOpen,
        unit: 'requests',
        goal: 'report',
        note: 'the open PR is read once to notice a merge or close',
      },
      { figure: '4c. GitHub requests: run after the PR was merged', ours: afterMerge, unit: 'requests', goal: 'report' },
      {
        figure: '4d. GitHub requests: no-op run, no PR',
        ours: quiet,
        unit: 'requests',
        goal: '<= 1 conditional',
        note: 'whether the base branch moved, for base-differs (If-None-Match; 0 before base-differs)',
      },
      {
        figure: '4e. GitHub requests: first held run, dashboard opened',
        ours: heldOpening,
        unit: 'requests',
        goal: 'report',
        note: 'one search for its marker, one issue created, and the base head (base-differs)',
      },
      {
        figure: '4f. GitHub reads: held run, dashboard open',
        ours: heldRun.filter((request) => request.method === 'GET').length,
        unit: 'requests',
        goal: '<= 2',
        // The dashboard issue once, and the base head (base-differs), answered 304.
        note: `${heldRun.length} in all, reads and edits: the body is edited only when it changes`,
      },
      { figure: '4g. GitHub requests: hold gone, dashboard updated', ours: released, unit: 'requests', goal: 'report' },
      {
        figure: '4h. GitHub requests: no-op run, dashboard open',
        ours: quietWithDashboard,
        unit: 'requests',
        goal: '<= 1 conditional',
        note: 'the base head, answered 304',
      },
      {
        figure: '4i. GitHub requests answered 304 in that no-op run',
        ours: quietRequests.filter((request) => request.status === 304).length,
        unit: 'requests',
        goal: '= 4d',
        note: 'the base head was unchanged, so no file was read',
      },
    ];
  } finally {
    await peer.close();
  }
}

export async function tableRequests(azurite: EmbeddedAzurite, sizes: BenchSizes): Promise<Row[]> {
  const store = StateStore.fromSetting(azurite.connectionString, { tableName: uniqueTable('state') });
  await store.ensureTable();
  const config = parseConfig({
    name: 'bench',
    targets: Array.from({ length: sizes.tableTargets }, (_, i) => ({ id: `t${i}`, type: 'static', entries: [hostAddress(i)] })),
  });
  const leaseOnly = await counted(store, async () => (await store.acquireLease('bench-lease', 'probe', 60_000)).release());
  const run = () => counted(store, () => runCheck({ config, store, env: {}, trigger: 'cli', dryRun: false }));
  const first = await run();
  const steady = await run();
  return [
    {
      figure: `5. Table requests: first run over ${sizes.tableTargets} targets`,
      ours: first - leaseOnly,
      unit: 'requests',
      goal: '2 (1 query + 1 batch)',
    },
    {
      figure: `5a. Table requests: next run over ${sizes.tableTargets} targets`,
      ours: steady - leaseOnly,
      unit: 'requests',
      goal: '2 (1 query + 1 batch)',
    },
    { figure: '5b. Table requests: lease acquire + release', ours: leaseOnly, unit: 'requests', goal: 'listed separately' },
    ...(await largeState(azurite, sizes, leaseOnly)),
  ];
}

/**
 * A config of 1,000 targets: its state no longer fits one transaction, so a run writes a new generation in several
 * and commits with the last. Requests of a whole run (lease excluded), and the time of the state's read and write alone.
 */
async function largeState(azurite: EmbeddedAzurite, sizes: BenchSizes, leaseOnly: number): Promise<Row[]> {
  const count = sizes.largeTableTargets ?? 1_000;
  const tableName = uniqueTable('large');
  const store = StateStore.fromSetting(azurite.connectionString, { tableName });
  await store.ensureTable();
  const config = parseConfig({
    name: 'bench-large',
    targets: Array.from({ length: count }, (_, i) => ({ id: `t${i}`, type: 'static', entries: [hostAddress(i), hostAddress(i + count)] })),
  });
  const run = () => counted(store, () => runCheck({ config, store, env: {}, trigger: 'cli', dryRun: false }));
  const first = await run();
  const steady = await run();
  // The state alone: a fresh store each time, so the read is a cold one, then every target written back changed.
  let stateRequests = 0;
  const stateMs = await medianMs(sizes.runs, async () => {
    const own = StateStore.fromSetting(azurite.connectionString, { tableName });
    const snapshot = await own.read(config.name);
    const targets = [...snapshot.targets.values()].map((record) => ({ ...record, lastCheckAt: new Date().toISOString() }));
    await own.write(config.name, { config: snapshot.config, targets });
    stateRequests = own.requestCount();
  });
  return [
    {
      figure: `5c. Table requests: first run over ${count} targets`,
      ours: first - leaseOnly,
      unit: 'requests',
      goal: '12 (1 query + 11 transactions)',
    },
    {
      figure: `5d. Table requests: next run over ${count} targets`,
      ours: steady - leaseOnly,
      unit: 'requests',
      goal: '24 (read 3, write 11, clean-up 10)',
      note: 'the read is 2 pages and a check that no write committed between them; the clean-up deletes the rows the new generation replaced',
    },
    {
      figure: `5e. state read + write of ${count} targets`,
      ours: stateMs,
      unit: 'ms',
      goal: 'report',
      note: `a cold read, then every target written back changed: ${stateRequests} Table requests`,
    },
  ];
}

async function counted(store: StateStore, work: () => Promise<unknown>): Promise<number> {
  const before = store.requestCount();
  await work();
  return store.requestCount() - before;
}

function uniqueTable(purpose: string): string {
  return `bench${purpose}${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;
}

/**
 * The Functions host provides "@azure/functions-core" to the worker; outside the host this
 * preload stands in for it, the same way test/setup/functions-core.ts does for vitest.
 */
const FUNCTIONS_CORE_STAND_IN = `
const Module = require('node:module');
const core = { registerFunction: () => ({ dispose() {} }), setProgrammingModel() {}, registerHook: () => ({ dispose() {} }), log() {} };
const load = Module._load;
Module._load = function (request, parent, isMain) { return request === '@azure/functions-core' ? core : load.call(this, request, parent, isMain); };
`;

/** Peak RSS reported at exit, in MB, written to stderr where the parent finds it. */
const RSS_REPORTER = `process.on('exit', () => require('node:fs').writeSync(2, '\\nBENCH_RSS ' + process.resourceUsage().maxRSS + '\\n'));`;

function helperFiles(): { standIn: string; rss: string } {
  const folder = mkdtempSync(join(tmpdir(), 'allowlist-bench-'));
  const standIn = join(folder, 'functions-core.cjs');
  const rss = join(folder, 'rss.cjs');
  writeFileSync(standIn, FUNCTIONS_CORE_STAND_IN);
  writeFileSync(rss, RSS_REPORTER);
  return { standIn, rss };
}

/** Median milliseconds a fresh node process takes to import `imports` in order, with the functions-core stand-in. */
async function coldImportMs(imports: readonly string[], runs: number): Promise<number> {
  const { standIn } = helperFiles();
  const script = `const t = performance.now(); ${imports.map((m) => `await import(${JSON.stringify(m)});`).join(' ')} console.log('BENCH_MS ' + (performance.now() - t));`;
  return median(
    await repeat(runs, async () => {
      const { stdout } = await runNode(['--require', standIn, '--input-type=module', '-e', script], projectRoot());
      return Number(/BENCH_MS (\S+)/.exec(stdout)?.[1]);
    }),
  );
}

export async function coldStart(sizes: BenchSizes): Promise<Row[]> {
  const root = projectRoot();
  const entries = ['check', 'status', 'timers'].map((name) => join(root, 'dist/functions', `${name}.js`));
  const ours = await coldImportMs(entries, sizes.runs + 2);
  const anchor = await coldImportMs(['@azure/functions', '@azure/data-tables'], sizes.runs + 2);
  return [
    {
      figure: '6. cold start: import dist/functions/*.js',
      ours,
      anchor,
      anchorName: '@azure/functions + @azure/data-tables',
      unit: 'ms',
      goal: '<= 1.5x',
    },
  ];
}

/** Bytes of every file under the given folders, each file counted once. */
function bytesUnder(folders: readonly string[]): number {
  const files = new Set(folders.flatMap((folder) => listFiles(folder)).map((file) => realpathSync(file)));
  return [...files].reduce((total, file) => total + statSync(file).size, 0);
}

/** The folders of the production dependencies, as npm resolves them (nested copies included). */
function productionDependencies(root: string): string[] {
  const listed = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8' });
  const folders = listed.stdout.split('\n').filter((line) => line.includes(`node_modules`));
  if (folders.length === 0) throw new Error(`npm ls listed no production dependencies: ${listed.stderr.slice(-300)}`);
  return [...new Set(folders)];
}

/**
 * Every module of ours reachable from the entry files of `folder`, through static and dynamic imports alike: what the
 * handlers have loaded once each ran (the bundle holds the same modules, in its chunks).
 */
function reachableModules(folder: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:from |import\()'(\.[^']+)'/g)) visit(resolve(dirname(file), match[1]!));
  };
  for (const file of readdirSync(folder).filter((name) => name.endsWith('.js'))) visit(join(folder, file));
  return [...seen];
}

/**
 * The deployable package (npm run package) against what a deployment of the compiled tree ships: dist/ with the
 * production node_modules. Sizes, and the import of every function entry point in a fresh process.
 */
export async function deployPackage(sizes: BenchSizes): Promise<Row[]> {
  const root = projectRoot();
  const out = mkdtempSync(join(tmpdir(), 'allowlist-bench-package-'));
  try {
    const { app, zip } = await buildPackage({ out });
    const kb = (bytes: number) => bytes / 1024;
    const tree = bytesUnder([join(root, 'dist'), ...productionDependencies(root)]);
    const entries = (folder: string) =>
      readdirSync(folder)
        .filter((file) => file.endsWith('.js'))
        .map((file) => join(folder, file));
    const bundled = await coldImportMs(entries(join(app, 'functions')), sizes.runs + 2);
    const compiled = await coldImportMs(entries(join(root, 'dist/functions')), sizes.runs + 2);
    // Everything the handlers import on first use as well: every chunk of the bundle, every module of dist they reach.
    const bundledAll = await coldImportMs([...entries(join(app, 'functions')), ...entries(join(app, 'chunks'))], sizes.runs + 2);
    const compiledAll = await coldImportMs(reachableModules(join(root, 'dist/functions')), sizes.runs + 2);
    return [
      {
        figure: '8. package: files shipped (npm run package)',
        ours: kb(bytesUnder([app])),
        anchor: kb(tree),
        anchorName: 'dist/ + production node_modules',
        unit: 'KB',
        goal: 'report',
        note: `${listFiles(app).length} files, where the compiled tree ships ${listFiles(join(root, 'dist')).length} plus its node_modules`,
      },
      { figure: '8a. package: the zip', ours: kb(statSync(zip).size), unit: 'KB', goal: '< 1024 KB (test/deploy/package.test.ts)' },
      {
        figure: "8b. cold start: import the package's functions/*.js",
        ours: bundled,
        anchor: compiled,
        anchorName: 'dist/functions/*.js + node_modules',
        unit: 'ms',
        goal: '<= 1.0x',
        note: 'every entry point the host loads, in a fresh process; the handlers import the rest on first use in both',
      },
      {
        figure: '8c. cold start and every module the handlers load on first use',
        ours: bundledAll,
        anchor: compiledAll,
        anchorName: 'every dist module they reach + node_modules',
        unit: 'ms',
        goal: '<= 1.0x',
      },
    ];
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export async function wholeCheck(azurite: EmbeddedAzurite, sizes: BenchSizes): Promise<Row[]> {
  const root = projectRoot();
  const { rss } = helperFiles();
  const zone = Object.fromEntries(
    Array.from({ length: sizes.checkFrontEnds }, (_, i) => [hostName(i), { kind: 'answer' as const, a: [hostAddress(i)] }]),
  );
  const dns = await startDnsPeer(zone, { delayMs: sizes.dnsDelayMs });
  const http = await startHttpPeer(
    routes({
      '/network-requirements.md': { body: readFileSync(sharedPath(CAS_2024)), contentType: 'text/plain; charset=utf-8' },
      '/ServiceTags_Public.json': { body: readFileSync(sharedPath(SERVICE_TAGS)), contentType: 'application/json' },
    }),
  );
  try {
    const configFile = join(mkdtempSync(join(tmpdir(), 'allowlist-bench-config-')), 'bench.config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        name: 'bench',
        targets: [
          { id: 'outsystems', type: 'outsystems', frontEnds: Array.from({ length: sizes.checkFrontEnds }, (_, i) => hostName(i)) },
          { id: 'cas-docs', type: 'cas-docs', url: `${http.url}/network-requirements.md`, dataCenters: '*', sections: '*' },
          { id: 'cas-tags', type: 'service-tags', url: `${http.url}/ServiceTags_Public.json`, tags: ['MicrosoftCloudAppSecurity'] },
        ],
        dns: { servers: [dns.server] },
        files: [{ path: 'firewall/allow.txt', format: 'plain', targets: ['outsystems', 'cas-docs', 'cas-tags'] }],
      }),
    );
    const env = { ...process.env, ALLOWLIST_STORAGE: azurite.connectionString };
    const samples = await repeat(sizes.runs, async () => {
      const started = performance.now();
      const { stdout, stderr } = await runNode(
        ['--require', rss, join(root, 'dist/bin/allowlist-drift.js'), 'check', '--dry-run', '--json', '--config', configFile],
        root,
        env,
      );
      const wall = performance.now() - started;
      const report = JSON.parse(stdout) as { targets: Array<{ id: string; status: string }> };
      const failed = report.targets.filter((target) => target.status === 'error');
      if (failed.length > 0) throw new Error(`the whole check failed for ${failed.map((t) => t.id).join(', ')}`);
      return { wall, rss: Number(/BENCH_RSS (\d+)/.exec(stderr)?.[1]) / 1024 };
    });
    return [
      {
        figure: `7. CLI check --dry-run --json: ${sizes.checkFrontEnds} front-ends + cas-docs + service tags`,
        ours: median(samples.map((s) => s.wall)),
        unit: 'ms',
        goal: 'report',
        note: `DNS answers delayed ${sizes.dnsDelayMs} ms; includes node start-up and Azurite table requests`,
      },
      { figure: '7a. CLI whole check: peak RSS', ours: median(samples.map((s) => s.rss)), unit: 'MB', goal: 'report' },
    ];
  } finally {
    await Promise.all([dns.close(), http.close()]);
  }
}

/**
 * Issue 13: the PR body of its first-run example (two front-ends and the US1 app-connector row of the CAS page),
 * beside the 10.6 KB the earlier layout wrote, and of the largest realistic first PR, beside GitHub's limit.
 * The same inputs as the golden files (test/publish/pr-cases.ts), over the same real page and tag file.
 */
async function pullRequestBodies(): Promise<Row[]> {
  const texts = { casPage: readFileSync(sharedPath(CAS_2024), 'utf8'), serviceTags: readFileSync(sharedPath(SERVICE_TAGS), 'utf8') };
  const firstRun = renderPullRequest(firstRunInput(texts)).body;
  const largest = renderPullRequest(largestFirstPrInput(texts)).body;
  const folded = /… and (\d+) more, left out to fit/.exec(largest)?.[1];
  return [
    {
      figure: '9. PR body bytes, first-run case (2 front-ends + US1 app-connector)',
      ours: Buffer.byteLength(firstRun),
      anchor: 10_600,
      anchorName: 'issue 13 body',
      unit: 'bytes',
      goal: 'a fraction of 10.6 KB',
    },
    {
      figure: '9a. PR body bytes, largest realistic first PR (all CAS, MicrosoftCloudAppSecurity, 5 front-ends)',
      ours: Buffer.byteLength(largest),
      anchor: 65_536,
      anchorName: 'GitHub limit',
      unit: 'bytes',
      goal: 'fits, groups intact',
      note: folded ? `${folded} of the tag's 2,302 prefixes left out of its folded list to fit; the body says so` : 'nothing folded to fit',
    },
  ];
}

async function childRss(script: string): Promise<number> {
  const { rss } = helperFiles();
  const { stderr } = await runNode(['--require', rss, '--input-type=module', '-e', script], projectRoot());
  return Number(/BENCH_RSS (\d+)/.exec(stderr)?.[1]) / 1024;
}

async function repeat<T>(times: number, work: () => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < times; i++) results.push(await work());
  return results;
}

function runNode(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<{ stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => {
      // The CLI exits 1 when a target is held or partial; the report on stdout is still the figure.
      if (code !== 0 && code !== 1) fail(new Error(`node ${args.slice(-3).join(' ')} exited with ${code}: ${stderr.slice(-500)}`));
      else done({ stdout, stderr });
    });
  });
}

/** Every figure, in table order; Azurite is started once and shared by the figures that need a store. */
export async function runBench(sizes: BenchSizes, progress: (message: string) => void = () => undefined): Promise<Row[]> {
  const rows: Row[] = [];
  const azurite = await startEmbeddedAzurite();
  try {
    const steps: Array<[string, () => Promise<Row[]>]> = [
      ['DNS fan-out', () => dnsFanOut(sizes)],
      ['service tags', () => serviceTags(sizes)],
      ['AWS ip-ranges', () => awsIpRanges(projectRoot(), sizes.runs + 4)],
      ['CIDR algebra', () => cidrAlgebra(sizes)],
      ['GitHub requests', () => githubRequests(azurite)],
      ['Table requests', () => tableRequests(azurite, sizes)],
      ...(sizes.processes
        ? ([
            ['cold start', () => coldStart(sizes)],
            ['whole check', () => wholeCheck(azurite, sizes)],
            ['deployable package', () => deployPackage(sizes)],
          ] as Array<[string, () => Promise<Row[]>]>)
        : []),
      ['PR body', () => pullRequestBodies()],
      ['quiet run', () => quietRun(azurite, projectRoot())],
      ['split files', () => splitFigures(sharedPath(SERVICE_TAGS), sizes.runs)],
      ['widening', () => widening(readFileSync(sharedPath(SERVICE_TAGS), 'utf8'), sizes)],
      ...(sizes.processes
        ? ([['queue through worker processes', () => queueFigures(azurite, projectRoot(), sizes.queue)]] as Array<
            [string, () => Promise<Row[]>]
          >)
        : []),
    ];
    for (const [name, step] of steps) {
      progress(`${name}...`);
      rows.push(...(await step()));
    }
  } finally {
    await azurite.stop();
  }
  return rows;
}
