import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest, createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseConfig, type Config, type ConfigInput } from '../../shared/config.js';
import { runCheck } from '../../shared/engine/check.js';
import type { RunOptions } from '../../shared/engine/context.js';
import type { Report } from '../../shared/report.js';
import { StateStore } from '../../shared/state/store.js';
import { startDnsPeer, type DnsPeer } from '../peers/dns.js';
import { startGitHubPeer, type GitHubPeer } from '../peers/github.js';
import { routes, sharedFile, startHttpPeer, type Handler, type HttpPeer } from '../peers/http.js';
import { fastPublisher } from '../support.js';

export { FAST_GITHUB, fastPublisher, rejection } from '../support.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const TOKEN = 'ghp_ReliabilityB0Token0123456789abcdef01';
export const FRONT_END = 'acme-fe1.outsystemsenterprise.com';
/** A public address (documentation ranges are held by the special-range guard). */
export const FRONT_END_IP = '52.17.44.10';
export const CAS_PATH = '/cas/network-requirements.md';
/** Retry waits shrunk to milliseconds and writes unpaced: the publishing protocol under test is unchanged. */

export function uniqueTableName(prefix = 'relb'): string {
  return `${prefix}${randomBytes(6).toString('hex')}`;
}

export async function openStore(connectionString: string, tableName = uniqueTableName(), options: { maxRetries?: number; now?: () => Date } = {}): Promise<StateStore> {
  const store = StateStore.fromSetting(connectionString, { tableName, maxRetries: options.maxRetries ?? 2, ...(options.now ? { now: options.now } : {}) });
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
  return routes({ [CAS_PATH]: { body: sharedFile('fixtures/cas/network-requirements_2024-06-20.md'), contentType: 'text/plain; charset=utf-8' } });
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
      ...(options.cas ? [{ id: 'cas-mail', type: 'cas-docs' as const, url: `${peers.upstream.url}${CAS_PATH}`, dataCenters: '*' as const, sections: ['mail' as const] }] : []),
    ],
    // Generous for a loaded machine: a local DNS peer answers at once, and a timeout would turn a scenario into another one.
    dns: { servers: [peers.dns.server], timeoutMs: 3000, tries: 2, stabilityQueries: 1 },
    files: [
      { path: 'edl/outsystems.txt', format: 'plain', targets: ['outsystems-prod'] },
      { path: 'allowlists/all.json', format: 'json', targets: ['outsystems-prod', 'partners'] },
    ],
    github: { owner: peers.github.owner, repo: peers.github.repo, apiUrl: options.githubUrl ?? peers.github.url },
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
export function failNextCalls<K extends 'write' | 'read'>(store: StateStore, method: K, error: () => Error, times = 1): { calls: () => number } {
  const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
  let calls = 0;
  (store as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    calls++;
    if (calls <= times) throw error();
    return original(...args);
  };
  return { calls: () => calls };
}

// --- an intercepting HTTP proxy: real faults between our code and a real server -----------------------------------

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
}

/** What the proxy does with one request. */
export interface Interception {
  /** Send it on to the real server (default true). */
  readonly forward?: boolean;
  /** Runs after the real server answered and before the answer is relayed (or replaced). */
  readonly afterForward?: () => void | Promise<void>;
  /** Answer with this instead of the real answer (after forwarding when `forward` is true). */
  readonly replaceWith?: { status: number; headers?: Record<string, string>; body?: string };
  /** Never answer: the caller is left waiting, like a process that died before reading the response. */
  readonly hang?: boolean;
}

export interface InterceptingProxy {
  readonly url: string;
  readonly port: number;
  readonly requests: SeenRequest[];
  intercept(decide: (request: SeenRequest) => Interception | undefined): void;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host']);

/** A real HTTP server that forwards every request to `target` unless the test decides otherwise. */
export async function startInterceptingProxy(target: string): Promise<InterceptingProxy> {
  const upstream = new URL(target);
  let decide: (request: SeenRequest) => Interception | undefined = () => undefined;
  const requests: SeenRequest[] = [];
  const server = createServer((incoming, response) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const seen = { method: incoming.method ?? 'GET', path: incoming.url ?? '/' };
      requests.push(seen);
      const plan = decide(seen) ?? {};
      const body = Buffer.concat(chunks);
      void (async () => {
        const real = plan.forward === false ? undefined : await forward(upstream, seen, incoming.headers, body);
        await plan.afterForward?.();
        if (plan.hang) return;
        const answer = plan.replaceWith
          ? { status: plan.replaceWith.status, headers: { 'content-type': 'application/json', ...plan.replaceWith.headers } as IncomingHttpHeaders, body: Buffer.from(plan.replaceWith.body ?? '') }
          : real!;
        const headers = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())));
        response.writeHead(answer.status, { ...headers, 'content-length': String(answer.body.length) });
        response.end(answer.body);
      })().catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
        response.end(String(error));
      });
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    intercept(next) {
      decide = next;
    },
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

function forward(upstream: URL, seen: SeenRequest, headers: IncomingHttpHeaders, body: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolveForward, reject) => {
    const outgoing = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: seen.method, path: seen.path, headers: { ...headers, host: upstream.host } },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => resolveForward({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }));
        answer.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** Azurite's development-account connection string with the table endpoint moved to a proxy. */
export function throughProxy(connectionString: string, proxy: InterceptingProxy): string {
  return connectionString.replace(/TableEndpoint=http:\/\/127\.0\.0\.1:\d+\//, `TableEndpoint=http://127.0.0.1:${proxy.port}/`);
}

// --- the compiled CLI in child processes --------------------------------------------------------------------------

export const CLI = join(ROOT, 'dist/bin/allowlist-drift.js');

/** Builds dist/ when the CLI is missing or older than any source it is compiled from. */
export function ensureBuilt(): void {
  const newestSource = Math.max(...['shared', 'bin', 'functions'].flatMap((dir) => listTs(join(ROOT, dir))).map((file) => statSync(file).mtimeMs));
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newestSource) return;
  spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.json')], { cwd: ROOT, stdio: 'ignore' });
  if (!existsSync(CLI)) throw new Error('the CLI could not be built');
}

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listTs(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

export function writeConfigFile(input: ConfigInput): string {
  const dir = mkdtempSync(join(tmpdir(), 'allowlist-drift-relb-'));
  const path = join(dir, 'allowlist-drift.config.json');
  writeFileSync(path, JSON.stringify(input));
  return path;
}

export interface CliRun {
  readonly child: ChildProcess;
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

export function startCli(args: string[], env: Record<string, string>): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolveRun) => {
    child.once('exit', (code, signal) => resolveRun({ code, signal, stdout, stderr }));
  });
  return { child, done };
}
