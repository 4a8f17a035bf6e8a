import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join, resolve } from 'node:path';
import { QueueClient } from '@azure/storage-queue';
import type { ConfigInput } from '../shared/config.js';
import { loadConfigSet, type ConfigSet } from '../shared/config-set.js';
import { runCheck } from '../shared/engine/check.js';
import { fanOutMessages } from '../shared/queue/run-message.js';
import type { ScheduleSetting } from '../shared/sources/source.js';
import { openDocumentCache } from '../shared/state/blob-document-cache.js';
import { azuriteConnectionString, type EmbeddedAzurite } from '../shared/state/embedded-azurite.js';
import { StateStore } from '../shared/state/store.js';
import { startDnsPeer, type Behaviour, type DnsPeer } from '../test/peers/dns.js';
import { startGitHubPeer, type GitHubPeer } from '../test/peers/github/index.js';
import { routes, startHttpPeer, type HttpPeer } from '../test/peers/http.js';
import { runTimerProcess, spawnQueueWorkers, stopQueueWorkers, type QueueWorker } from '../test/peers/queue-workers.js';
import { fastPublisher } from '../test/support.js';
import { median, type Row } from './table.js';

/**
 * Issue 26, "Bench": many configs in one app, fanned out on Azurite's queue and checked by 1 and by 4 worker
 * processes. Each config watches the CAS page and the service-tags file (served by the HTTP peer) and 5 front-ends of
 * its own (the DNS peer), and writes its own file of the GitHub peer's repository; every DNS and HTTP answer waits
 * `delayMs`, as a real upstream does, so that workers have waits to overlap. Beside the wall times, the CPU time of
 * every process of the pass says how much of the machine the work needed and was given.
 */

const TOKEN = 'ghp_BenchQueue0Token00000000000000000000';
const CAS_PAGE = 'fixtures/cas/network-requirements_2024-06-20.md';
const SERVICE_TAGS = 'fixtures/service-tags/ServiceTags_Public_2025-11-07.json';
const FRONT_ENDS = 5;
/** Both timers, one after the other as their offset schedules run them: the documents first, then the front-ends. */
const KINDS: readonly ScheduleSetting[] = ['CAS_SCHEDULE', 'OUTSYSTEMS_SCHEDULE'];

export interface QueueBenchSizes {
  readonly configs: number;
  readonly workers: readonly number[];
  readonly delayMs: number;
}

export const QUEUE_BENCH: QueueBenchSizes = { configs: 100, workers: [1, 4], delayMs: 50 };

/** What the workers did, once the queue is drained and they stopped. */
interface WorkerPoolRun {
  /** Invocations by outcome: ran (a check ran), deferred (the lease was held), failed (an attempt threw). */
  readonly outcomes: Readonly<Record<string, number>>;
  /** Peak RSS of each worker, MB. */
  readonly rssMb: readonly number[];
  /** CPU time of all workers, ms. */
  readonly cpuMs: number;
  /** Median duration of one config's check, as its run line reports it, ms. */
  readonly checkMs: number;
}

interface WorkerPool {
  /** Resolves when at least `messages` invocations ended, none is running and the queue holds no message. */
  drain(messages: number): Promise<void>;
  stop(): Promise<WorkerPoolRun>;
}

/**
 * A preload for each worker: its peak RSS at exit on stderr, and GitHub writes unpaced as FAST_GITHUB does for the
 * in-process figures. @octokit/plugin-throttling spaces a process's writes 1 s apart (3 s for those that notify,
 * such as opening a PR) in limiter groups it creates itself, so a worker that opens 100 PRs would measure that
 * pacing and nothing else; this gives those groups no spacing, as the tests' tuning does.
 */
function workerPreload(root: string): string {
  const folder = mkdtempSync(join(tmpdir(), 'allowlist-bench-worker-'));
  const file = join(folder, 'preload.cjs');
  writeFileSync(
    file,
    `process.on('exit', () => {
  const usage = process.resourceUsage();
  require('node:fs').writeSync(2, '\\nBENCH_RSS ' + usage.maxRSS + ' BENCH_CPU ' + (usage.userCPUTime + usage.systemCPUTime) + '\\n');
});
const Bottleneck = require('node:module').createRequire(${JSON.stringify(join(root, 'node_modules/@octokit/plugin-throttling/package.json'))})('bottleneck/light.js');
const Group = Bottleneck.Group;
const UNPACED = ['octokit-write', 'octokit-notifications'];
Bottleneck.Group = class extends Group {
  constructor(options = {}) {
    super(UNPACED.includes(options.id) ? { ...options, minTime: 0, maxConcurrent: null } : options);
  }
};
`,
  );
  return file;
}

async function startWorkers(options: { count: number; env: NodeJS.ProcessEnv; root: string; queue: QueueClient }): Promise<WorkerPool> {
  const preload = workerPreload(options.root);
  // BENCH_WORKER_NODE_OPTIONS reaches the workers too, e.g. `--cpu-prof --cpu-prof-dir=/tmp/profiles` to see their CPU.
  const extra = process.env.BENCH_WORKER_NODE_OPTIONS ?? '';
  const workers = await spawnQueueWorkers({
    count: options.count,
    env: { ...options.env, NODE_OPTIONS: `--require ${preload} ${extra}`.trim() },
    host: { pollMs: 20 },
  });
  let dead: QueueWorker | undefined;
  for (const worker of workers) void worker.exited.then(() => (dead ??= worker));
  const lines = () => workers.flatMap((worker) => worker.lines);
  const ended = () => lines().filter((line) => line.event === 'done' || line.event === 'failed').length;
  const running = () => lines().filter((line) => line.event === 'start').length - ended();
  return {
    async drain(messages) {
      for (;;) {
        if (ended() >= messages && running() === 0 && (await options.queue.getProperties()).approximateMessagesCount === 0) return;
        if (dead)
          throw new Error(
            `queue worker ${dead.pid} exited before the queue was drained: ${dead.stderr().slice(-500)}\n${JSON.stringify(dead.lines.slice(-5))}`,
          );
        await sleep(20);
      }
    },
    async stop() {
      await stopQueueWorkers(workers);
      const all = lines();
      const deferred = all.filter((line) => line.event === 'log' && / deferred \d+ s: /.test(line.text ?? '')).length;
      const failed = all.filter((line) => line.event === 'failed').length;
      const done = all.filter((line) => line.event === 'done').length;
      const rssMb = workers.map((worker) => Number(/BENCH_RSS (\d+)/.exec(worker.stderr())?.[1]) / 1024);
      const cpuMs = workers.reduce((sum, worker) => sum + Number(/BENCH_CPU (\d+)/.exec(worker.stderr())?.[1]) / 1000, 0);
      const durations = all.flatMap((line) => {
        const found = line.event === 'log' && line.text?.startsWith('check done:') ? /"durationMs":(\d+)/.exec(line.text) : null;
        return found ? [Number(found[1])] : [];
      });
      return { outcomes: { ran: done - deferred, deferred, failed }, rssMb, cpuMs, checkMs: median(durations) };
    },
  };
}

function configName(index: number): string {
  return `team-${String(index).padStart(3, '0')}`;
}

function frontEnd(config: number, index: number): string {
  return `fe${index}.${configName(config)}.bench.example`;
}

/** 52.0.0.0/8 is public space, so no guard interferes; one address per front-end. */
function frontEndAddress(config: number, index: number): string {
  const n = config * FRONT_ENDS + index;
  return `52.200.${(n >> 8) & 255}.${n & 255}`;
}

function configInput(index: number, peers: Peers): ConfigInput {
  const name = configName(index);
  return {
    name,
    targets: [
      // The sample config's CAS targets: the app-connector rows and the MicrosoftCloudAppSecurity tag (2,302 prefixes).
      {
        id: 'cas-docs',
        type: 'cas-docs',
        url: `${peers.http.url}/network-requirements.md`,
        dataCenters: ['US1', 'EU1'],
        sections: ['app-connector'],
      },
      { id: 'cas-tags', type: 'service-tags', url: `${peers.http.url}/ServiceTags_Public.json`, tags: ['MicrosoftCloudAppSecurity'] },
      {
        id: 'outsystems',
        type: 'outsystems',
        frontEnds: Array.from({ length: FRONT_ENDS }, (_, i) => frontEnd(index, i)),
      },
    ],
    dns: { servers: [peers.dns.server] },
    files: [{ path: `firewall/${name}.txt`, format: 'plain', targets: ['cas-docs', 'cas-tags', 'outsystems'] }],
    github: { owner: 'contoso', repo: 'network', apiUrl: peers.github.url },
  };
}

interface Peers {
  readonly http: HttpPeer;
  readonly dns: DnsPeer;
  readonly github: GitHubPeer;
  close(): Promise<void>;
}

async function startPeers(root: string, sizes: QueueBenchSizes): Promise<Peers> {
  const serve = routes({
    '/network-requirements.md': { body: readFileSync(resolve(root, 'test', CAS_PAGE)), contentType: 'text/plain; charset=utf-8' },
    '/ServiceTags_Public.json': { body: readFileSync(resolve(root, 'test', SERVICE_TAGS)), contentType: 'application/json' },
  });
  const zone: Record<string, Behaviour> = {};
  for (let c = 0; c < sizes.configs; c++)
    for (let i = 0; i < FRONT_ENDS; i++) zone[frontEnd(c, i)] = { kind: 'answer', a: [frontEndAddress(c, i)] };
  const files = Object.fromEntries(Array.from({ length: sizes.configs }, (_, c) => [`firewall/${configName(c)}.txt`, '']));
  const [http, dns, github] = await Promise.all([
    // A real upstream takes its time to answer; the peer waits before it serves, a 304 as a 200.
    startHttpPeer(async (request, response) => {
      await new Promise((done) => setTimeout(done, sizes.delayMs));
      return serve(request, response);
    }),
    startDnsPeer(zone, { delayMs: sizes.delayMs }),
    startGitHubPeer({ owner: 'contoso', repo: 'network', token: TOKEN, files }),
  ]);
  return { http, dns, github, close: () => Promise.all([http.close(), dns.close(), github.close()]).then(() => undefined) };
}

/** A pass-through to Azurite's Table endpoint that counts the requests: what any number of processes sent. */
async function countingProxy(port: number): Promise<{ port: number; count(): number; close(): Promise<void> }> {
  let requests = 0;
  const server = createServer((incoming, outgoing) => {
    requests++;
    const forward = httpRequest(
      { host: '127.0.0.1', port, method: incoming.method, path: incoming.url, headers: incoming.headers },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forward.on('error', (error) => {
      outgoing.writeHead(502);
      outgoing.end(String(error));
    });
    incoming.pipe(forward);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    port: (server.address() as AddressInfo).port,
    count: () => requests,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/**
 * Each timer's handler once, in a process of its own as the host runs it, with its queue output written as the host
 * does: the messages one occurrence puts on the queue. On a queue, table and document cache of their own (the
 * handler's start-up check runs beside it), so the measured ticks start from nothing.
 */
async function timerFanOuts(env: NodeJS.ProcessEnv): Promise<Record<string, number>> {
  const written: Record<string, number> = {};
  for (const kind of KINDS) {
    const timer = await runTimerProcess({ kind, env });
    if (timer.failed !== undefined) throw new Error(`the ${kind} timer failed: ${timer.failed}`);
    written[kind] = timer.written;
  }
  return written;
}

/** Each timer's tick in turn: its fan-out put on the queue, and the queue drained. */
interface Ticks {
  /** Wall time per kind, from the first message enqueued to the queue drained. */
  readonly wallMs: Readonly<Record<string, number>>;
  readonly messages: Readonly<Record<string, number>>;
  /** Upstream GETs per path, per kind's tick. */
  readonly gets: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

async function ticks(options: { set: ConfigSet; queue: QueueClient; pool: WorkerPool; http: HttpPeer }): Promise<Ticks> {
  const wallMs: Record<string, number> = {};
  const messages: Record<string, number> = {};
  const gets: Record<string, Record<string, number>> = {};
  let done = 0;
  for (const kind of KINDS) {
    const seen = options.http.requests.length;
    const started = performance.now();
    // What the timer's fan-out hands its queue output binding; the host then puts each on the queue, base64.
    const fanned = fanOutMessages({ set: options.set, kind, tick: new Date().toISOString() });
    await Promise.all(fanned.map((message) => options.queue.sendMessage(Buffer.from(JSON.stringify(message)).toString('base64'))));
    done += fanned.length;
    await options.pool.drain(done);
    wallMs[kind] = performance.now() - started;
    messages[kind] = fanned.length;
    gets[kind] = countBy(
      options.http.requests
        .slice(seen)
        .filter((request) => request.method === 'GET')
        .map((request) => request.path),
    );
  }
  return { wallMs, messages, gets };
}

/** One measured pass: fresh peers, table, queue and cache; every config through the queue, one timer's tick at a time. */
interface Pass extends Ticks {
  readonly workers: number;
  /** Messages each timer's handler (functions/timers.ts, in a process of its own) wrote for one occurrence. */
  readonly timers: Readonly<Record<string, number>>;
  readonly tableRequests: number;
  readonly pullRequests: number;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly rssMb: readonly number[];
  readonly checkMs: number;
  /** CPU time spent during the ticks, ms: the workers, this process (the peers), Azurite. */
  readonly cpuMs: { readonly workers: number; readonly peers: number; readonly azurite: number };
}

async function pass(options: { azurite: EmbeddedAzurite; root: string; sizes: QueueBenchSizes; workers: number }): Promise<Pass> {
  const { azurite, root, sizes } = options;
  const peers = await startPeers(root, sizes);
  const proxy = await countingProxy(azurite.port);
  const dir = mkdtempSync(join(tmpdir(), 'allowlist-bench-queue-'));
  try {
    for (let c = 0; c < sizes.configs; c++) writeFileSync(join(dir, `${configName(c)}.json`), JSON.stringify(configInput(c, peers)));
    const suffix = randomBytes(4).toString('hex');
    const storage = azuriteConnectionString(proxy.port, { blobPort: azurite.blobPort, queuePort: azurite.queuePort });
    const queueName = `bench-runs-${suffix}`;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '',
      AzureWebJobsStorage: storage,
      ALLOWLIST_STORAGE: storage,
      ALLOWLIST_TABLE: `benchqueue${suffix}`,
      ALLOWLIST_QUEUE: queueName,
      ALLOWLIST_DOCUMENT_CONTAINER: `bench-documents-${suffix}`,
      ALLOWLIST_CONFIG_DIR: dir,
      GITHUB_TOKEN: TOKEN,
    };
    const queue = new QueueClient(azurite.connectionString, queueName);
    await queue.createIfNotExists();
    const set = await loadConfigSet({ kind: 'folder', dir, from: 'ALLOWLIST_CONFIG_DIR' });
    const timers = await timerFanOuts({
      ...env,
      ALLOWLIST_QUEUE: `${queueName}-timer`,
      ALLOWLIST_TABLE: `benchtimer${suffix}`,
      ALLOWLIST_DOCUMENT_CONTAINER: `bench-timer-${suffix}`,
    });
    const pool = await startWorkers({ count: options.workers, env, root, queue });
    const tableBefore = proxy.count();
    const cpuBefore = process.cpuUsage();
    const azuriteBefore = azuriteCpuMs();
    let ticked: Ticks;
    let cpu: { peers: number; azurite: number };
    let run: WorkerPoolRun;
    try {
      ticked = await ticks({ set, queue, pool, http: peers.http });
      const own = process.cpuUsage(cpuBefore);
      cpu = { peers: (own.user + own.system) / 1000, azurite: azuriteCpuMs() - azuriteBefore };
    } finally {
      run = await pool.stop();
    }
    if (peers.github.violations.length > 0)
      throw new Error(`the GitHub peer saw requests its OpenAPI description rejects: ${JSON.stringify(peers.github.violations[0])}`);
    return {
      workers: options.workers,
      ...ticked,
      timers,
      tableRequests: proxy.count() - tableBefore,
      pullRequests: peers.github.pullRequests().length,
      outcomes: run.outcomes,
      rssMb: run.rssMb,
      checkMs: run.checkMs,
      cpuMs: { workers: run.cpuMs, ...cpu },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([peers.close(), proxy.close()]);
  }
}

/** Table requests of one config checked on its own, in this process, through the same counting proxy: both ticks. */
async function aloneTableRequests(azurite: EmbeddedAzurite, root: string, sizes: QueueBenchSizes): Promise<number> {
  const peers = await startPeers(root, { ...sizes, configs: 1 });
  const proxy = await countingProxy(azurite.port);
  try {
    const { parseConfig } = await import('../shared/config.js');
    const { typesOnSchedule } = await import('../shared/sources/registry.js');
    const storage = azuriteConnectionString(proxy.port, { blobPort: azurite.blobPort, queuePort: azurite.queuePort });
    const store = StateStore.fromSetting(storage, { tableName: `benchalone${randomBytes(4).toString('hex')}` });
    await store.ensureTable();
    const documents = openDocumentCache(storage, { container: `bench-alone-${randomBytes(4).toString('hex')}` });
    const config = parseConfig(configInput(0, peers));
    const before = proxy.count();
    for (const kind of KINDS) {
      await runCheck({
        config,
        store,
        documents,
        env: { GITHUB_TOKEN: TOKEN },
        trigger: 'timer',
        dryRun: false,
        targetTypes: typesOnSchedule(kind),
        publisher: fastPublisher({ GITHUB_TOKEN: TOKEN }),
      });
    }
    return proxy.count() - before;
  } finally {
    await Promise.all([peers.close(), proxy.close()]);
  }
}

/** CPU time of the embedded Azurite (this process's child running azurite.js), ms, as ps tells it in whole seconds; 0 without ps. */
function azuriteCpuMs(): number {
  const listed = spawnSync('ps', ['-o', 'pid=,cputimes=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  const line = (listed.stdout ?? '').split('\n').find((text) => text.includes('azurite'));
  const seconds = Number(line?.trim().split(/\s+/)[1]);
  return Number.isFinite(seconds) ? seconds * 1000 : 0;
}

function cpuTotal(pass: Pass): number {
  return pass.cpuMs.workers + pass.cpuMs.peers + pass.cpuMs.azurite;
}

function cpuSplit(pass: Pass): string {
  const { workers, peers, azurite } = pass.cpuMs;
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const wall = KINDS.reduce((sum, kind) => sum + pass.wallMs[kind]!, 0);
  // CPU time over wall time: how many of the machine's cores the pass had on average (others' work shares them).
  const cores = (workers + peers + azurite) / wall;
  return `workers ${s(workers)}, peers (this process) ${s(peers)}, Azurite ${s(azurite)} (ps, whole seconds), ${cores.toFixed(2)} cores busy on average`;
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/**
 * Figure 13: every config through the queue by each worker count in turn, each pass from nothing (fresh peers,
 * table, cache container and queue, so every config opens its PR in the first tick), beside one config checked alone.
 */
export async function queueFigures(azurite: EmbeddedAzurite, root: string, sizes: QueueBenchSizes): Promise<Row[]> {
  const alone = await aloneTableRequests(azurite, root, sizes);
  const passes: Pass[] = [];
  for (const workers of sizes.workers) passes.push(await pass({ azurite, root, sizes, workers }));
  for (const done of passes) {
    for (const kind of KINDS)
      if (done.timers[kind] !== done.messages[kind])
        throw new Error(`the ${kind} timer wrote ${done.timers[kind]} messages where the bench enqueued ${done.messages[kind]}`);
    const expected = sizes.configs * KINDS.length;
    if (done.outcomes.ran !== expected || done.pullRequests !== sizes.configs)
      throw new Error(
        `${done.workers} workers ran ${done.outcomes.ran} of ${expected} checks (${JSON.stringify(done.outcomes)}) and left ${done.pullRequests} PRs for ${sizes.configs} configs`,
      );
  }
  const [one, many] = [passes[0]!, passes[passes.length - 1]!];
  const total = (p: Pass) => KINDS.reduce((sum, kind) => sum + p.wallMs[kind]!, 0);
  const label = `${sizes.configs} configs`;
  const gets = (p: Pass) => Object.values(p.gets.CAS_SCHEDULE ?? {});
  const urls = Object.entries(many.gets.CAS_SCHEDULE ?? {}).map(([path, count]) => `${path} ${count}`);
  const kindRow = (kind: ScheduleSetting, figure: string, what: string): Row => ({
    figure: `${figure}. queue: ${label}, ${kind} tick (${what}), ${many.workers} workers`,
    ours: many.wallMs[kind]!,
    anchor: one.wallMs[kind]!,
    anchorName: `${one.workers} worker`,
    unit: 'ms',
    goal: 'report',
  });
  return [
    {
      figure: `13. queue: ${label} (CAS page, service tags, ${FRONT_ENDS} front-ends, own file), both ticks, ${many.workers} workers`,
      ours: total(many),
      anchor: total(one),
      anchorName: `${one.workers} worker`,
      unit: 'ms',
      goal: '<= 0.35x',
      note:
        `wall time from the first message enqueued to the queue drained, summed over the CAS_SCHEDULE and OUTSYSTEMS_SCHEDULE ` +
        `ticks run one after the other; every DNS and HTTP answer waits ${sizes.delayMs} ms; first ticks from an empty state, ` +
        `so each config opens its PR (GitHub writes unpaced, as in figure 4)`,
    },
    kindRow('CAS_SCHEDULE', '13a', 'the two documents; no PR yet, publishing waits for the front-ends'),
    kindRow('OUTSYSTEMS_SCHEDULE', '13b', 'the front-ends; each config opens its PR'),
    {
      figure: `13c. queue: upstream GETs per distinct URL, CAS_SCHEDULE tick, ${many.workers} workers`,
      ours: Math.max(...gets(many)),
      anchor: Math.max(...gets(one)),
      anchorName: `${one.workers} worker`,
      unit: 'requests',
      goal: '1',
      note: `the most GETs of one URL; ${many.workers} workers: ${urls.join(', ')}`,
    },
    {
      figure: `13d. queue: Table requests per config, both ticks, ${many.workers} workers`,
      ours: Math.round((many.tableRequests / sizes.configs) * 100) / 100,
      anchor: alone,
      anchorName: 'one config checked alone',
      unit: 'requests',
      goal: 'unchanged',
      note:
        `every Table request of the pass, counted by a proxy in front of Azurite, over ${sizes.configs} configs ` +
        `(${one.workers} worker: ${(one.tableRequests / sizes.configs).toFixed(2)}); beyond the check's own, ` +
        `each worker checks the table once, on its first message`,
    },
    {
      figure: `13e. queue: messages per tick, ${many.workers} workers`,
      ours: (KINDS.reduce((sum, kind) => sum + many.timers[kind]!, 0) + many.outcomes.deferred!) / KINDS.length,
      anchor: sizes.configs,
      anchorName: 'one per config',
      unit: 'messages',
      goal: '1 per config and kind',
      note:
        `per tick: what each timer's handler wrote (${KINDS.map((kind) => `${kind} ${many.timers[kind]}`).join(', ')}), ` +
        `and the ${many.outcomes.deferred} put back for a held lease over both ticks`,
    },
    {
      figure: `13f. queue: CPU time of the ticks, ${many.workers} workers`,
      ours: cpuTotal(many),
      anchor: cpuTotal(one),
      anchorName: `${one.workers} worker`,
      unit: 'ms',
      goal: 'report',
      note:
        `${cpus().length} cores; ${many.workers} workers: ${cpuSplit(many)}; ${one.workers} worker: ${cpuSplit(one)}; ` +
        `one config's check (median) took ${many.checkMs.toFixed(0)} ms with ${many.workers} workers, ${one.checkMs.toFixed(0)} ms with ${one.workers}`,
    },
    {
      figure: `13g. queue: peak RSS of a worker, ${many.workers} workers`,
      ours: Math.max(...many.rssMb),
      anchor: Math.max(...one.rssMb),
      anchorName: `${one.workers} worker`,
      unit: 'MB',
      goal: 'report',
    },
  ];
}
