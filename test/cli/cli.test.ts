import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { StatusReport } from '../../shared/engine/status.js';
import type { Report, TargetReport } from '../../shared/report.js';
import { startDnsPeer, type DnsPeer } from '../peers/dns.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer } from '../peers/http.js';

const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'dist/bin/allowlist-drift.js');
const TABLE = 'clitest';

/**
 * The CLI is tested as users run it: the compiled file in a child process. The build is redone only when a
 * source file is newer than its output, so a fresh `npm test` (which builds first) does not build twice.
 */
function buildIfStale(): void {
  const sources = ['functions', 'shared', 'bin'].flatMap((dir) => listTs(join(root, dir)));
  const stale = sources.some((source) => {
    const output = join(root, 'dist', relative(root, source)).replace(/\.ts$/, '.js');
    return !existsSync(output) || statSync(output).mtimeMs < statSync(source).mtimeMs;
  });
  if (!stale) return;
  try {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'pipe' });
  } catch {
    // tsc still emits when a file being edited elsewhere has a type error; the CLI runs below tell if it works.
  }
}

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listTs(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Settings a developer's shell may carry that would change what the CLI does; npm's own (npm_command, set when
 * vitest runs under npm or npx) change how the CLI writes the commands it suggests, so each test sets them itself.
 */
const SETTINGS = /^(ALLOWLIST_|AzureWebJobsStorage$|GITHUB_|LIFETIME_|npm_)/;

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !SETTINGS.test(name)));
  return { ...env, ...extra };
}

/** Runs the CLI with stdout and stderr on pipes, as in `allowlist-drift check --json | jq`. */
function run(args: string[], options: { env?: Record<string, string>; cwd?: string; storage?: boolean } = {}): Promise<CliResult> {
  const storage: Record<string, string> =
    options.storage === false ? {} : { ALLOWLIST_STORAGE: inject('azuriteConnectionString'), ALLOWLIST_TABLE: TABLE };
  const child = spawn(process.execPath, [cli, ...args], {
    cwd: options.cwd ?? work,
    env: cleanEnv({ ...storage, ...options.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  return new Promise((done, fail) => {
    child.once('error', fail);
    child.once('close', (code) =>
      done({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }),
    );
  });
}

let dns: DnsPeer;
let work: string;

beforeAll(async () => {
  buildIfStale();
  dns = await startDnsPeer({
    'fe1.acme.test': { kind: 'answer', a: ['20.50.1.10'] },
    'fe2.acme.test': { kind: 'answer', a: ['20.50.1.20'] },
    'fe-gone.acme.test': { kind: 'nxdomain' },
    'fe-doc.acme.test': { kind: 'answer', a: ['192.0.2.10'] },
  });
  work = mkdtempSync(join(tmpdir(), 'allowlist-drift-cli-'));
}, 120_000);

afterAll(async () => {
  await dns.close();
  rmSync(work, { recursive: true, force: true });
});

/** Writes a config file named after the config (its name is also its state partition). */
function configFile(name: string, targets: unknown[], extra: Record<string, unknown> = {}, dir = work): string {
  const path = join(dir, `${name}.config.json`);
  writeFileSync(
    path,
    JSON.stringify({
      name,
      dns: { servers: [dns.server], timeoutMs: 1_000, tries: 1 },
      targets,
      files: [{ path: 'edl/acme.txt', format: 'plain', targets: targets.map((t) => (t as { id: string }).id) }],
      ...extra,
    }),
  );
  return path;
}

const partners = { id: 'partners', type: 'static', entries: ['20.60.1.5', '20.60.0.0/28'] };
const acme = { id: 'acme-prod', type: 'outsystems', frontEnds: ['fe1.acme.test', 'fe2.acme.test'] };
const broken = { id: 'acme-broken', type: 'outsystems', frontEnds: ['fe-gone.acme.test'] };

function noStack(text: string): void {
  expect(text).not.toMatch(/\n\s+at |\.js:\d+:\d+|\.ts:\d+:\d+/);
}

describe('exit status and human output', () => {
  it('0 when every target is ok; a dry run prints the table and a unified diff of the rule files', async () => {
    const config = configFile('cli-ok', [partners, acme]);
    const result = await run(['check', '--dry-run', '--config', config]);
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^Run [0-9a-f-]{36} \(dry run\) for config "cli-ok"$/);
    expect(lines).toContain('target     status  added  removed  pending  problems');
    expect(lines).toContain('partners   ok      +2     -0       0        0');
    expect(lines).toContain('acme-prod  ok      +2     -0       0        0');
    expect(lines).toContain('2 targets: 2 ok, 0 error, 0 held');
    expect(lines).toContain(
      'Pull request: none (dry run): the config has no "github" block, so a full run publishes nothing; into a repository without these files it would write 1 file; the rule files would change like this:',
    );
    expect(result.stdout).toContain('--- a/edl/acme.txt\n+++ b/edl/acme.txt\n@@');
    for (const added of ['+20.50.1.10/32', '+20.50.1.20/32', '+20.60.0.0/28', '+20.60.1.5/32']) expect(lines).toContain(added);
    // stderr is not a TTY here: no progress lines.
    expect(result.stderr).toBe('');
  });

  it('a full check that opens no pull request still ends with a true next step', async () => {
    const result = await run(['check', '--config', configFile('cli-full-none', [partners])]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Pull request: none');
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(
      'Next: add a "github" block (owner, repo of your firewall rules) to the config to have drift opened as a pull request.',
    );
  });

  it('1 when a target errors, naming the error', async () => {
    const result = await run(['check', '--dry-run', '--config', configFile('cli-error', [partners, broken])]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^acme-broken\s+error\s+\+0\s+-0\s+0\s+2$/m);
    expect(result.stdout).toMatch(/^ {2}acme-broken error dns-no-addresses: /m);
    expect(result.stdout).toMatch(/^ {2}acme-broken warning dns-nxdomain: Front-end fe-gone\.acme\.test does not exist/m);
  });

  it('1 when a target is held by a guard, saying which guard', async () => {
    const documentation = { id: 'docs-range', type: 'outsystems', frontEnds: ['fe-doc.acme.test'] };
    const result = await run(['check', '--dry-run', '--config', configFile('cli-held', [documentation])]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^docs-range\s+held\s/m);
    expect(result.stdout).toMatch(/^ {2}docs-range held by special-range: /m);
  });

  it.each([
    ['an unknown command', ['chek'], /allowlist-drift: unknown command "chek"\n/],
    // node:util's own message goes on with advice that ends in an unbalanced quote; only its first sentence is kept.
    ['an unknown flag', ['check', '--frobnicate'], /allowlist-drift: Unknown option '--frobnicate'\n/],
    ['help for a command that does not exist', ['help', 'chek'], /help takes one command name: check, status, accept, approve, doctor/],
    [
      'a malformed fingerprint',
      ['approve', '--target', 'partners', '--fingerprint', 'XYZ'],
      /--fingerprint "XYZ" is not a fingerprint: give the 16 hexadecimal digits shown after --fingerprint/,
    ],
    ['accept without --target', ['accept'], /accept needs exactly one --target <id>/],
    ['approve without --target', ['approve'], /approve needs exactly one --target <id>/],
    ['--fingerprint outside approve', ['check', '--fingerprint', '0123456789abcdef'], /--fingerprint belongs to approve/],
    ['a stray argument', ['status', 'now'], /unexpected argument "now"/],
  ])('2 for a usage error: %s', async (_name, args, message) => {
    const result = await run(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain('Usage:\n  allowlist-drift check');
    noStack(result.stderr);
  });

  it.each([
    ['help', ['help'], 'Usage:\n  allowlist-drift check'],
    ['--help', ['--help'], 'Usage:\n  allowlist-drift check'],
    ['help check', ['help', 'check'], 'Usage: allowlist-drift check [--config <file> | --config-dir <folder>]'],
    ['check --help', ['check', '--help'], 'Usage: allowlist-drift check [--config <file> | --config-dir <folder>]'],
    ['approve -h', ['approve', '-h'], 'Usage: allowlist-drift approve --target <id> [--fingerprint <held fingerprint>]'],
    ['doctor --help', ['doctor', '--help'], 'Usage: allowlist-drift doctor [--config <file>] [--json]'],
  ])('0 for %s: the usage on stdout, nothing on stderr', async (_name, args, usage) => {
    const result = await run(args, { storage: false });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.startsWith(usage)).toBe(true);
    // A command's help is its own: no other command's usage line.
    if (args.length > 1) expect(result.stdout.match(/allowlist-drift (check|status|accept|approve|doctor) /g)).toHaveLength(1);
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(await run(['--version'], { storage: false })).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('2 for an invalid config: three mistakes, three messages, no stack trace', async () => {
    const path = join(work, 'mistakes.config.json');
    writeFileSync(
      path,
      JSON.stringify({
        targets: [
          { id: 'Partners', type: 'static', entries: ['20.60.1.5'] },
          { id: 'acme', type: 'outsystems', frontEnds: ['fe1.acme.test'], vpnRanges: ['10.0.0.0/33'] },
        ],
        files: [{ path: 'edl/x.txt', format: 'plain', targets: ['acme', 'nobody'] }],
      }),
    );
    const result = await run(['check', '--dry-run', '--config', path]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const problems = result.stderr.split('\n').filter((line) => line.startsWith('  - '));
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/targets\[0\]\.id/);
    expect(problems.join('\n')).toMatch(/targets\[1\]\.vpnRanges\[0\]: "10\.0\.0\.0\/33"/);
    expect(problems.join('\n')).toMatch(/files\[0\]\.targets\[1\]: no target has the id "nobody"/);
    expect(result.stderr).toContain(`The configuration in ${path} is not valid:`);
    noStack(result.stderr);
  });

  it('refuses a blob endpoint as the storage setting, naming the table endpoint to give', async () => {
    const config = configFile('cli-blob', [partners]);
    const result = await run(['status', '--config', config], { env: { ALLOWLIST_STORAGE: 'https://acmestate.blob.core.windows.net' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'allowlist-drift: state-setting-invalid: The storage setting names the blob endpoint of account acmestate; state is kept in Table Storage: give the table endpoint, https://acmestate.table.core.windows.net\n',
    );
  });

  it('2 for a target id that is not in the config', async () => {
    const result = await run(['check', '--dry-run', '--target', 'nope', '--config', configFile('cli-unknown', [partners])]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown-target: No configured target has the id "nope"/);
  });

  it('refuses to publish without GitHub credentials, naming the settings, unless it is a dry run', async () => {
    const config = configFile('cli-github', [partners], { github: { owner: 'acme', repo: 'firewall-rules' } });
    const refused = await run(['check', '--config', config], { env: { GITHUB_APP_ID: '12345' } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/GitHub App authentication needs GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID as well/);
    const blank = await run(['check', '--config', config], { env: { GITHUB_TOKEN: '   ' } });
    expect(blank.code).toBe(2);
    expect(blank.stderr).toContain('set GITHUB_TOKEN');
    expect(refused.stderr).toContain('--dry-run');
    expect(refused.stdout).toBe('');
    expect((await run(['status', '--json', '--config', config])).stdout).toContain('"lastRunAt": null');

    expect((await run(['check', '--dry-run', '--config', config])).code).toBe(0);
    // An explicit --config wins over an ALLOWLIST_CONFIG left in the environment.
    expect((await run(['status', '--json', '--config', config], { env: { ALLOWLIST_CONFIG: '{ not json' } })).code).toBe(0);
  });
});

describe('--json', () => {
  it('prints exactly the report on stdout', async () => {
    const result = await run([
      'check',
      '--dry-run',
      '--json',
      '--target',
      'acme-prod',
      '--config',
      configFile('cli-json', [partners, acme]),
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout.endsWith('}\n')).toBe(true);
    const report = JSON.parse(result.stdout) as Report;
    expect(Object.keys(report).sort()).toEqual([
      'configName',
      'dryRun',
      'errors',
      'finishedAt',
      'pullRequest',
      'runId',
      'startedAt',
      'targets',
      'trigger',
      'warnings',
    ]);
    expect(report).toMatchObject({ configName: 'cli-json', trigger: 'cli', dryRun: true, errors: [] });
    expect(report.targets.map((t) => t.id)).toEqual(['acme-prod']);
    expect(report.targets[0]!.observed).toEqual(['20.50.1.10/32', '20.50.1.20/32']);
  });

  it('arrives whole through a pipe when it is megabytes long (50,000 entries)', async () => {
    const entries = Array.from({ length: 50_000 }, (_, i) => `20.${100 + (i >> 14)}.${(i >> 6) & 255}.${(i & 63) * 4 + 1}`);
    const config = configFile('cli-large', [{ id: 'many', type: 'static', entries }], { files: [] });
    const result = await run(['check', '--dry-run', '--json', '--config', config]);
    expect(Buffer.byteLength(result.stdout)).toBeGreaterThan(2 * 1024 * 1024);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.targets[0]!.observed).toHaveLength(50_000);
    expect(report.targets[0]!.observed.at(-1)).toBe(`${entries.at(-1)}/32`);
    expect(result.code).toBe(0);
  });
});

describe('state across runs', () => {
  it('accept sets the baseline; a later check shows no additions; status --json tells what is stored', async () => {
    const config = configFile('cli-state', [partners, acme]);
    const accepted = await run(['accept', '--target', 'acme-prod', '--json', '--config', config]);
    expect(accepted.code).toBe(0);
    const target = JSON.parse(accepted.stdout) as TargetReport;
    expect(target).toMatchObject({ id: 'acme-prod', status: 'ok', baseline: ['20.50.1.10/32', '20.50.1.20/32'], added: [], removed: [] });

    const checked = await run(['check', '--json', '--config', config]);
    expect(checked.code).toBe(0);
    const report = JSON.parse(checked.stdout) as Report;
    expect(report.targets.find((t) => t.id === 'acme-prod')).toMatchObject({
      added: [],
      removed: [],
      baseline: ['20.50.1.10/32', '20.50.1.20/32'],
    });
    expect(report.targets.find((t) => t.id === 'partners')!.added).toEqual(['20.60.0.0/28', '20.60.1.5/32']);

    const status = await run(['status', '--json', '--config', config]);
    expect(status.code).toBe(0);
    const stored = JSON.parse(status.stdout) as StatusReport;
    expect(Date.parse(stored.lastRunAt!)).toBeGreaterThanOrEqual(Date.parse(report.startedAt));
    expect(stored.targets.map((t) => [t.id, t.status, t.baselineCount, t.observedCount])).toEqual([
      ['partners', 'ok', 0, 2],
      ['acme-prod', 'ok', 2, 2],
    ]);

    const human = await run(['status', '--config', config]);
    // The last check was good: "last check" and "last good check" are the same time.
    expect(human.stdout).toMatch(/^acme-prod\s+ok\s+(\d{4}-\d\d-\d\dT\S+)\s+\1\s+2\s+2\s+0\s+-$/m);
    expect(human.stdout).toContain('No open pull request');
  });

  it('accept refuses an observation that is not complete (exit 1), storing nothing', async () => {
    const config = configFile('cli-accept-error', [broken]);
    const result = await run(['accept', '--target', 'acme-broken', '--config', config]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/accept-incomplete: acme-broken: the observation is "error"/);
    noStack(result.stderr);
    const status = JSON.parse((await run(['status', '--json', '--config', config])).stdout) as StatusReport;
    expect(status.targets[0]!.status).toBe('never-checked');
  });
});

describe('releasing a hold', () => {
  it('check shows the held change and how to approve it; approve refuses a stale fingerprint and releases the shown one', async () => {
    const config = configFile('cli-approve', [{ id: 'docs-range', type: 'outsystems', frontEnds: ['fe-doc.acme.test'] }]);
    const early = await run(['approve', '--target', 'docs-range', '--config', config]);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/^allowlist-drift: approve-nothing-held: docs-range: /);

    // Run through npx: the command to paste back is an npx one, with the --config given.
    const held = await run(['check', '--config', config], { env: { npm_command: 'exec', npm_lifecycle_event: 'npx' } });
    expect(held.code).toBe(1);
    expect(held.stdout).toMatch(/^ {2}docs-range held since \S+: would add 192\.0\.2\.10\/32; would remove nothing$/m);
    const fingerprint = new RegExp(
      `^ {2}docs-range release it with: npx allowlist-drift approve --target docs-range --fingerprint ([0-9a-f]{16}) --config ${config}$`,
      'm',
    ).exec(held.stdout)?.[1];
    expect(fingerprint).toBeDefined();
    // A full check that opens no pull request still ends with a true next step: the hold, not a pull request.
    expect(held.stdout.trimEnd().split('\n').at(-1)).toMatch(/^Next: review the held change above; release one with the approve command/);
    const status = JSON.parse((await run(['status', '--json', '--config', config])).stdout) as StatusReport;
    expect(status.targets[0]!.held).toMatchObject({ added: ['192.0.2.10/32'], removed: [], fingerprint });
    expect((await run(['status', '--config', config])).stdout).toContain(`--target docs-range --fingerprint ${fingerprint}`);

    const stale = await run(['approve', '--target', 'docs-range', '--fingerprint', '0000000000000000', '--config', config]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain(`approve-changed: docs-range: the held change is now ${fingerprint}, not 0000000000000000`);

    const approved = await run(['approve', '--target', 'docs-range', '--fingerprint', fingerprint!, '--config', config]);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toMatch(new RegExp(`^docs-range: held change ${fingerprint} approved at \\S+ \\(\\+1 -0\\)`));

    const released = await run(['check', '--json', '--config', config]);
    expect(released.code).toBe(0);
    const target = (JSON.parse(released.stdout) as Report).targets[0]!;
    expect(target).toMatchObject({ status: 'ok', added: ['192.0.2.10/32'], approval: { fingerprint, source: 'cli' } });
  });
});

describe('the embedded store (no storage setting)', () => {
  let folder: string;
  let config: string;
  let first: CliResult;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'allowlist-drift-embedded-'));
    config = configFile('cli-embedded', [partners, acme], {}, folder);
    first = await run(['accept', '--target', 'acme-prod', '--config', config], { cwd: folder, storage: false });
  }, 120_000);

  afterAll(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  it('says in one stderr line that it keeps state under ./.allowlist-drift/', () => {
    expect(first.code).toBe(0);
    expect(first.stderr.trimEnd().split('\n')).toEqual([
      `No ALLOWLIST_STORAGE or AzureWebJobsStorage set: using the embedded store in ${join(folder, '.allowlist-drift')}`,
    ]);
    expect(existsSync(join(folder, '.allowlist-drift'))).toBe(true);
  });

  // Azurite's LokiJS store saves on a graceful close: this fails if the embedded store is ever killed instead.
  it('a second run reuses what the first stored', async () => {
    const second = await run(['check', '--dry-run', '--json', '--target', 'acme-prod', '--config', config], {
      cwd: folder,
      storage: false,
    });
    expect(second.code).toBe(0);
    const report = JSON.parse(second.stdout) as Report;
    expect(report.targets[0]).toMatchObject({ baseline: ['20.50.1.10/32', '20.50.1.20/32'], added: [] });
  });
});

describe('a first run that tells the truth', () => {
  let http: HttpPeer;
  let sample: string;

  /** The repository's sample config, with only where things are fetched from changed, as `npm start` runs it. */
  beforeAll(async () => {
    http = await startHttpPeer(
      routes({
        '/network-requirements.md': {
          body: sharedFile('fixtures/cas/network-requirements_2024-06-20.md'),
          contentType: 'text/plain; charset=utf-8',
        },
        '/ServiceTags_Public.json': {
          body: sharedFile('fixtures/service-tags/ServiceTags_Public_2025-11-07.json'),
          contentType: 'application/json',
        },
      }),
    );
    dns.set('acme-fe1.outsystemsenterprise.com', { kind: 'answer', a: ['52.16.1.10'] });
    dns.set('acme-fe2.outsystemsenterprise.com', { kind: 'answer', a: ['52.16.2.20'] });
    const config = JSON.parse(readFileSync(join(root, 'allowlist-drift.config.json'), 'utf8')) as {
      targets: Array<Record<string, unknown>>;
    };
    sample = join(work, 'allowlist-drift.config.json');
    writeFileSync(
      sample,
      JSON.stringify({
        ...config,
        targets: config.targets.map((target) =>
          target.type === 'cas-docs'
            ? { ...target, url: `${http.url}/network-requirements.md` }
            : target.type === 'service-tags'
              ? { ...target, url: `${http.url}/ServiceTags_Public.json` }
              : target,
        ),
        dns: { servers: [dns.server], timeoutMs: 2_000, tries: 2 },
      }),
    );
  });

  afterAll(() => http.close());

  it('npm start: every sample target ok, exit 0, what a full run would publish, and the next step as the last line', async () => {
    const result = await run(['check', '--dry-run', '--config', 'allowlist-drift.config.json'], {
      env: { npm_command: 'start', npm_lifecycle_event: 'start' },
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('5 targets: 5 ok, 0 error, 0 held');
    expect(result.stdout).toContain(
      'Pull request: none (dry run): a full run would open a pull request changing 4 files; acme/firewall-rules could not be read (github-credentials-missing: No GitHub credentials: set GITHUB_TOKEN',
    );
    expect(result.stdout).toContain('+++ b/hosts/dlp-gateway/iptables.rules');
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(
      'Next: set GITHUB_TOKEN (or GITHUB_APP_ID, GITHUB_APP_INSTALLATION_ID and GITHUB_APP_PRIVATE_KEY) for acme/firewall-rules, then run `npx allowlist-drift check --config allowlist-drift.config.json` (without --dry-run) for a full check, which stores what it observed and opens or updates the pull request.',
    );
  });

  it('npm start says on stderr that it builds before tsc runs, and builds only what changed (the build info lives in dist/)', () => {
    const { scripts } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const [note, build, start] = scripts.start!.split(' && ');
    expect(execFileSync('sh', ['-c', `${note} 2>&1 >/dev/null`], { encoding: 'utf8' })).toMatch(/^Building dist\/ with tsc/);
    // Removing dist/ removes the build info with it, so a missing output is never taken as up to date.
    expect(build).toBe('tsc -p tsconfig.json --incremental --tsBuildInfoFile dist/.tsbuildinfo');
    expect(start).toBe('node dist/bin/allowlist-drift.js check --dry-run --config allowlist-drift.config.json');
  });

  it('points at doctor when something failed, and prints no next step with --json', async () => {
    const config = configFile('cli-next-failed', [partners, broken]);
    const failed = await run(['check', '--dry-run', '--config', config]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('a full run would publish nothing: drift found, but acme-broken has no known addresses yet');
    // Run as `node <path>`, the hint says so.
    expect(failed.stdout.trimEnd().split('\n').at(-1)).toBe(
      `Next: fix what the errors above name; \`node ${cli} doctor --config ${config}\` checks the set-up (storage, GitHub, the upstream documents, the resolvers) and says how to fix each part.`,
    );
    const json = await run(['check', '--dry-run', '--json', '--config', config]);
    expect(json.stdout).not.toContain('Next:');
    expect(JSON.parse(json.stdout)).toMatchObject({ pullRequest: { action: 'dry-run' } });
  });

  it('--config names the flag and the path it could not read; ALLOWLIST_CONFIG_PATH is named only when it gave the path', async () => {
    const flag = await run(['check', '--dry-run', '--config', 'nope.json']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain(
      `--config nope.json: ${join(work, 'nope.json')}: no configuration file there; give --config the path of a config file`,
    );
    expect(flag.stderr).not.toContain('ALLOWLIST_CONFIG_PATH');
    noStack(flag.stderr);

    const setting = await run(['check', '--dry-run'], { env: { ALLOWLIST_CONFIG_PATH: 'nope.json' } });
    expect(setting.code).toBe(2);
    expect(setting.stderr).toContain(`ALLOWLIST_CONFIG_PATH: ${join(work, 'nope.json')}: no configuration file there`);
  });

  it.each([
    ['no storage configured (the embedded store would start)', { storage: false }],
    [
      'an unreachable storage',
      {
        env: {
          ALLOWLIST_STORAGE:
            'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/devstoreaccount1',
        },
      },
    ],
  ] as const)('an unknown --target lists the valid ids and exits 2 before anything starts: %s', async (_name, options) => {
    const folder = mkdtempSync(join(tmpdir(), 'allowlist-drift-unknown-'));
    const asked = dns.queries.length;
    try {
      const config = configFile('cli-unknown-ids', [partners, acme], {}, folder);
      for (const command of ['check', 'accept']) {
        const result = await run([command, '--target', 'nope', '--config', config], { ...options, cwd: folder });
        expect(result.code).toBe(2);
        expect(result.stderr).toBe(
          'allowlist-drift: unknown-target: No configured target has the id "nope"; the targets are partners, acme-prod\n',
        );
      }
      expect(existsSync(join(folder, '.allowlist-drift'))).toBe(false);
      // Nothing was resolved either (acme-prod's front-ends are on this DNS peer).
      expect(dns.queries.length).toBe(asked);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
