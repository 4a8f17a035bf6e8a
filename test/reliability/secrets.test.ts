import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { HttpRequest, InvocationContext, type Timer } from '@azure/functions';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { parseConfig, type Config } from '../../shared/config.js';
import { acceptObservation } from '../../shared/engine/accept.js';
import { runCheck } from '../../shared/engine/check.js';
import { readStatus } from '../../shared/engine/status.js';
import { errorResponse } from '../../functions/lib/http-api.js';
import { toProblem } from '../../shared/problem.js';
import { createGitHubPublisher } from '../../shared/publish/github/publisher.js';
import { FAST_GITHUB } from '../support.js';
import { StateStore } from '../../shared/state/store.js';
import { startDnsPeer, type DnsPeer } from '../peers/dns.js';
import { startGitHubPeer, type GitHubPeer } from '../peers/github/index.js';
import { startHttpPeer, type HttpPeer } from '../peers/http.js';

const ROOT = resolve(import.meta.dirname, '../..');
const APP_ID = 4242;
const INSTALLATION_ID = 77;
const CONFIG_NAME = 'secrets-check';

/** GitHub-shaped tokens (the publisher also redacts by shape) and a LifeTime token whose encodings differ from it. */
const GITHUB_TOKEN = `ghp_${alphanumeric(36)}`;
const WRONG_GITHUB_TOKEN = `ghp_${alphanumeric(36)}`;
const LIFETIME_TOKEN = `lt+${randomBytes(30).toString('base64')}/x=`;
const appKey = rsaKey();
const wrongAppKey = rsaKey();
const SAS_SIGNATURE = randomBytes(32).toString('base64');
const SAS = `sv=2024-08-04&ss=t&srt=sco&sp=rwdlacu&se=2031-01-01T00:00:00Z&spr=https,http&sig=${encodeURIComponent(SAS_SIGNATURE)}`;

let azurite: string;
let accountKey: string;
let closedPort: number;
let dns: DnsPeer;
let lifetime: HttpPeer;
let lifetimeMode: 'echo' | 'unauthorized' = 'echo';
let github: GitHubPeer;
let config: Config;
let configJson: string;
let store: StateStore;
let work: string;
let cli: string;

/** Everything any part of the app said, by where it was said. */
const outputs: Array<{ label: string; text: string }> = [];

function record(label: string, value: unknown): void {
  outputs.push({ label, text: typeof value === 'string' ? value : JSON.stringify(value) });
}

function alphanumeric(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(length)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

function rsaKey() {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
}

/** Every secret and the parts of it that identify it: a PEM's body lines and its DER in one piece. */
function secrets(): string[] {
  const pemParts = (pem: string) => {
    const body = pem.split('\n').filter((line) => line !== '' && !line.startsWith('-----'));
    return [pem, pem.replace(/\n/g, '\\n'), body.join(''), ...body.filter((line) => line.length >= 16)];
  };
  return [
    GITHUB_TOKEN,
    WRONG_GITHUB_TOKEN,
    LIFETIME_TOKEN,
    ...pemParts(appKey.privateKey),
    ...pemParts(wrongAppKey.privateKey),
    accountKey,
    SAS,
    SAS_SIGNATURE,
  ];
}

/** The spellings a secret can leak in: verbatim, base64, base64url, URL-encoded, and JSON-escaped. */
function leakedForms(secret: string): string[] {
  const forms = [
    secret,
    Buffer.from(secret).toString('base64'),
    Buffer.from(secret).toString('base64url'),
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
    // A base64 secret (the Azure account key, the SAS signature) is also its own bytes.
    ...(/^[A-Za-z0-9+/]+={0,2}$/.test(secret) && secret.length % 4 === 0 ? [Buffer.from(secret, 'base64').toString('hex')] : []),
  ];
  return [...new Set(forms)].filter((form) => form.length >= 12);
}

function leaksIn(text: string): string[] {
  return secrets().flatMap((secret, index) =>
    leakedForms(secret)
      .filter((form) => text.includes(form))
      .map(() => `secret #${index}`),
  );
}

/** Captures what reaches the console and the process streams while `run` executes. */
async function captured<T>(label: string, run: () => Promise<T>): Promise<T> {
  const chunks: string[] = [];
  const spies = [
    ...(['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void chunks.push(args.map(String).join(' '))),
    ),
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (chunks.push(String(chunk)), true)),
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (chunks.push(String(chunk)), true)),
  ];
  try {
    return await run();
  } finally {
    for (const spy of spies) spy.mockRestore();
    record(`${label} (console and process streams)`, chunks.join('\n'));
  }
}

function publisherFor(env: Record<string, string>) {
  return (c: Config) =>
    createGitHubPublisher({
      github: c.github!,
      configName: c.name,
      env,
      tuning: FAST_GITHUB,
      log: (level, m) => record('publisher log', `[${level}] ${m}`),
    });
}

function appEnv(privateKey: string): Record<string, string> {
  // App settings often hold the PEM on one line with "\n" escapes.
  return {
    GITHUB_APP_ID: String(APP_ID),
    GITHUB_APP_INSTALLATION_ID: String(INSTALLATION_ID),
    GITHUB_APP_PRIVATE_KEY: privateKey.replace(/\n/g, '\\n'),
  };
}

async function inProcessCheck(label: string, env: Record<string, string>, checkStore = store): Promise<void> {
  const logs: string[] = [];
  await captured(label, async () => {
    try {
      const report = await runCheck({
        config,
        store: checkStore,
        env,
        trigger: 'cli',
        dryRun: false,
        publisher: publisherFor(env),
        log: (level, m) => logs.push(`[${level}] ${m}`),
      });
      record(`${label}: report`, report);
      outputs.push({
        label: `${label}: report marker`,
        text: `errors=${report.errors.map((e) => e.code).join(',')} pr=${report.pullRequest.action}`,
      });
    } catch (error) {
      record(`${label}: error`, {
        message: (error as Error).message,
        problem: toProblem(error),
        response: errorResponse(error),
        string: String(error),
      });
    }
  });
  record(`${label}: log`, logs.join('\n'));
}

function invocation(functionName: string, label: string): InvocationContext {
  const logs: string[] = [];
  outputs.push({
    label: `${label}: InvocationContext logs`,
    get text() {
      return logs.join('\n');
    },
  });
  return new InvocationContext({
    invocationId: `secrets-${functionName}-${outputs.length}`,
    functionName,
    logHandler: (level, ...args) =>
      logs.push(`[${level}] ${args.map((a) => (typeof a === 'string' ? a : (JSON.stringify(a) ?? String(a)))).join(' ')}`),
  });
}

/** Compiles the CLI and what it imports to plain JavaScript in a private folder (no type check: tsc covers that). */
function transpileCli(into: string): string {
  const sources = ['bin', 'shared'].flatMap((dir) => listTs(join(ROOT, dir)));
  for (const file of sources) {
    const output = ts.transpileModule(readFileSync(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2023 },
      fileName: file,
    });
    const target = join(into, relative(ROOT, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, output.outputText);
  }
  writeFileSync(join(into, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(ROOT, 'node_modules'), join(into, 'node_modules'), 'dir');
  return join(into, 'bin/allowlist-drift.js');
}

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? listTs(join(dir, entry.name))
      : entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

async function runCli(label: string, args: string[], env: Record<string, string>): Promise<number | null> {
  const child = spawn(process.execPath, [cli, ...args], {
    cwd: work,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  record(`${label}: CLI stdout`, stdout);
  record(`${label}: CLI stderr`, stderr);
  outputs.push({ label: `${label}: CLI exit`, text: `exit ${code}` });
  return code;
}

async function closedPortNumber(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

function textOf(label: RegExp): string {
  return outputs
    .filter((o) => label.test(o.label))
    .map((o) => o.text)
    .join('\n');
}

beforeAll(async () => {
  azurite = inject('azuriteConnectionString');
  accountKey = /AccountKey=([^;]+)/.exec(azurite)![1]!;
  closedPort = await closedPortNumber();
  dns = await startDnsPeer({ 'fe1.secrets.test': { kind: 'answer', a: ['52.20.0.1'] } });
  lifetime = await startHttpPeer((request, response) => {
    if (lifetimeMode === 'unauthorized') {
      // A careless API that echoes the credential it rejected, in a header and in the body.
      response.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `Bearer error="invalid_token" token="${LIFETIME_TOKEN}"`,
      });
      response.end(JSON.stringify({ Errors: [`Invalid token ${request.headers.authorization ?? ''}`] }));
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ Name: `Production (${LIFETIME_TOKEN})`, NumberOfFrontEnds: 3 }));
  });
  github = await startGitHubPeer({
    token: GITHUB_TOKEN,
    app: { id: APP_ID, installationId: INSTALLATION_ID, publicKey: appKey.publicKey },
    files: { 'firewall/allowlist.txt': '# allowlist\n' },
  });
  configJson = JSON.stringify({
    name: CONFIG_NAME,
    targets: [
      {
        id: 'outsystems',
        type: 'outsystems',
        frontEnds: ['fe1.secrets.test'],
        lifetime: { url: lifetime.url, environmentKey: 'prod-env' },
      },
      { id: 'partners', type: 'static', entries: ['198.51.100.0/24'] },
    ],
    dns: { servers: [dns.server], timeoutMs: 500, tries: 1 },
    http: { timeoutMs: 5_000 },
    github: { owner: github.owner, repo: github.repo, apiUrl: github.url },
    files: [{ path: 'firewall/allowlist.txt', format: 'plain', targets: ['outsystems', 'partners'] }],
  });
  config = parseConfig(JSON.parse(configJson));
  // The table the CLI and the Functions runtime use by default, so all three share one state.
  store = StateStore.fromSetting(azurite);
  await store.ensureTable();
  work = mkdtempSync(join(tmpdir(), 'allowlist-drift-secrets-'));
  writeFileSync(join(work, 'allowlist-drift.config.json'), configJson);
  cli = transpileCli(join(work, 'build'));
}, 60_000);

afterAll(async () => {
  await Promise.all([dns?.close(), lifetime?.close(), github?.close()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('issue 6 group 7: secrets never leave the process', () => {
  it('the leak detector itself finds every encoded form (so a clean result means something)', () => {
    for (const secret of [GITHUB_TOKEN, LIFETIME_TOKEN, accountKey, SAS_SIGNATURE]) {
      for (const form of leakedForms(secret)) expect(leaksIn(`prefix ${form} suffix`)).not.toEqual([]);
    }
    const bodyLine = appKey.privateKey.split('\n')[5]!;
    expect(leaksIn(`key line: ${bodyLine}`)).not.toEqual([]);
    expect(leaksIn('nothing secret here')).toEqual([]);
  });

  it('runCheck in-process: token, GitHub App, GitHub 401, wrong App key, LifeTime echoing its token, storage down', async () => {
    lifetimeMode = 'echo';
    await inProcessCheck('runCheck with GITHUB_TOKEN', { GITHUB_TOKEN, LIFETIME_TOKEN });
    expect(github.pullRequests()).toHaveLength(1);
    expect(textOf(/runCheck with GITHUB_TOKEN: report$/)).toContain('new-front-end');

    lifetimeMode = 'unauthorized';
    await inProcessCheck('runCheck with a GitHub App', { ...appEnv(appKey.privateKey), LIFETIME_TOKEN });
    expect(textOf(/runCheck with a GitHub App: report$/)).toContain('lifetime-unavailable');
    expect(github.requests.some((r) => r.route === `/app/installations/${INSTALLATION_ID}/access_tokens` && r.status === 201)).toBe(true);

    await inProcessCheck('runCheck with a rejected token', { GITHUB_TOKEN: WRONG_GITHUB_TOKEN, LIFETIME_TOKEN });
    await inProcessCheck('runCheck with a wrong App key', { ...appEnv(wrongAppKey.privateKey), LIFETIME_TOKEN });
    for (const label of ['runCheck with a rejected token', 'runCheck with a wrong App key']) {
      expect(textOf(new RegExp(`${label}: report marker`))).toMatch(/errors=.*github/);
    }

    await inProcessCheck(
      'runCheck with storage down (SAS)',
      { GITHUB_TOKEN, LIFETIME_TOKEN },
      StateStore.fromSetting(`TableEndpoint=http://127.0.0.1:${closedPort}/devstoreaccount1;SharedAccessSignature=${SAS}`, {
        maxRetries: 0,
      }),
    );
    await inProcessCheck(
      'runCheck with storage down (account key)',
      { GITHUB_TOKEN, LIFETIME_TOKEN },
      StateStore.fromSetting(azurite.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${closedPort}`), { maxRetries: 0 }),
    );
    expect(textOf(/storage down .*: error$/)).toMatch(/state-unavailable|storage/);

    const accepted = await captured('acceptObservation', () =>
      acceptObservation({ config, store, env: { LIFETIME_TOKEN }, targetId: 'partners' }),
    );
    record('acceptObservation: report', accepted);
    record('readStatus', await readStatus(config, store));
  });

  it('Function handlers in-process: check (POST), timer and status, through storage down and GitHub 401', async () => {
    const { checkHandler } = await import('../../functions/check.js');
    const { statusHandler } = await import('../../functions/status.js');
    const { scheduledCheck } = await import('../../functions/timers.js');
    const saved = { ...process.env };
    const post = () =>
      new HttpRequest({ method: 'POST', url: 'http://localhost/api/check', headers: { 'content-type': 'application/json' } });
    try {
      Object.assign(process.env, { ALLOWLIST_CONFIG: configJson, GITHUB_TOKEN, LIFETIME_TOKEN });
      lifetimeMode = 'unauthorized';

      process.env.ALLOWLIST_STORAGE = `TableEndpoint=http://127.0.0.1:${closedPort}/devstoreaccount1;SharedAccessSignature=${SAS}`;
      const down = await captured('check handler, storage down', () =>
        checkHandler(post(), invocation('check', 'check handler, storage down')),
      );
      record('check handler, storage down: response', down);
      expect(down.status).toBeGreaterThanOrEqual(500);

      process.env.ALLOWLIST_STORAGE = azurite;
      lifetimeMode = 'echo';
      const ok = await captured('check handler', () => checkHandler(post(), invocation('check', 'check handler')));
      record('check handler: response', ok);
      expect(ok.status).toBe(200);

      const timer = { isPastDue: true, schedule: { adjustForDST: true }, scheduleStatus: { last: '', next: '', lastUpdated: '' } } as Timer;
      await captured('timer handler', () =>
        scheduledCheck(['outsystems', 'static'])(timer, invocation('outsystemsCheck', 'timer handler')),
      );

      process.env.GITHUB_TOKEN = WRONG_GITHUB_TOKEN;
      const rejected = await captured('check handler, GitHub 401', () =>
        checkHandler(post(), invocation('check', 'check handler, GitHub 401')),
      );
      record('check handler, GitHub 401: response', rejected);
      expect(JSON.stringify(rejected.jsonBody)).toMatch(/github/);
      await captured('timer handler, GitHub 401', () =>
        scheduledCheck(['outsystems'])(timer, invocation('outsystemsCheck', 'timer handler, GitHub 401')),
      );
      expect(textOf(/timer handler, GitHub 401: InvocationContext/)).toMatch(/\[error\]/);

      const status = await captured('status handler', () =>
        statusHandler(new HttpRequest({ method: 'GET', url: 'http://localhost/api/status' }), invocation('status', 'status handler')),
      );
      record('status handler: response', status);
      expect(status.status).toBe(200);
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });

  it('the CLI as a child process: check (JSON and text), status, accept, and its failure paths', async () => {
    const storage = { ALLOWLIST_STORAGE: azurite };
    lifetimeMode = 'echo';
    expect(await runCli('CLI check --json', ['check', '--json'], { ...storage, GITHUB_TOKEN, LIFETIME_TOKEN })).toBe(0);
    expect(await runCli('CLI check (text)', ['check'], { ...storage, ...appEnv(appKey.privateKey), LIFETIME_TOKEN })).toBe(0);
    expect(await runCli('CLI status', ['status', '--json'], { ...storage })).toBe(0);
    expect(await runCli('CLI accept', ['accept', '--target', 'partners'], { ...storage, LIFETIME_TOKEN })).toBe(0);

    lifetimeMode = 'unauthorized';
    expect(await runCli('CLI check, LifeTime 401', ['check', '--json'], { ...storage, GITHUB_TOKEN, LIFETIME_TOKEN })).toBe(0);
    expect(
      await runCli('CLI check, GitHub 401', ['check', '--json'], { ...storage, GITHUB_TOKEN: WRONG_GITHUB_TOKEN, LIFETIME_TOKEN }),
    ).toBe(1);
    expect(await runCli('CLI check, wrong App key', ['check'], { ...storage, ...appEnv(wrongAppKey.privateKey), LIFETIME_TOKEN })).toBe(1);
    const sas = `TableEndpoint=http://127.0.0.1:${closedPort}/devstoreaccount1;SharedAccessSignature=${SAS}`;
    expect(await runCli('CLI check, storage down', ['check', '--json'], { ALLOWLIST_STORAGE: sas, GITHUB_TOKEN, LIFETIME_TOKEN })).not.toBe(
      0,
    );
    expect(textOf(/CLI check, storage down: CLI stderr/)).not.toBe('');
    expect(textOf(/CLI check, GitHub 401: CLI stdout/)).toMatch(/github/);
  }, 120_000);

  it('no output, log, report, error, PR body, comment, commit or file anywhere holds a secret in any encoding', () => {
    for (const pull of github.pullRequests()) {
      record(`PR #${pull.number}: title and body`, `${pull.title}\n${pull.body ?? ''}`);
      for (const comment of pull.comments) record(`PR #${pull.number}: comment`, comment.body);
      for (const commit of github.history(pull.headRef)) record(`PR #${pull.number}: commit ${commit.sha}`, commit.message);
      record(`PR #${pull.number}: file`, github.readFile(pull.headRef, 'firewall/allowlist.txt') ?? '');
    }
    // The runs above did produce the material checked here, failure paths included.
    expect(outputs.length).toBeGreaterThan(40);
    expect(textOf(/./)).toContain('[redacted]');
    const leaks = outputs.flatMap(({ label, text }) => leaksIn(text).map((which) => `${label}: ${which}`));
    expect(leaks).toEqual([]);
    expect(github.violations).toEqual([]);
  });
});
