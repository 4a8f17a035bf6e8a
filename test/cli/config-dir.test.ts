import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ConfigRun } from '../../shared/engine/check-set.js';
import type { ConfigSetStatus } from '../../shared/engine/status-set.js';
import { startGitHubPeer, type GitHubPeer } from '../peers/github/index.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer } from '../peers/http.js';

/**
 * `check --config-dir` as users run it (the compiled CLI in a child process) over three configs of three teams that
 * watch the same CAS page, each writing its own file, against Azurite, the HTTP peer and the OpenAPI-checked GitHub peer.
 * test/cli/cli.test.ts builds dist/ when it is stale; this file expects `npm run build` to have run (npm test does).
 */

const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'dist/bin/allowlist-drift.js');
const TOKEN = 'ghp_ConfigDir0Scenario0Token0123456789ab';
const PAGE = '/network-requirements.md';

let http: HttpPeer;
let github: GitHubPeer;
let work: string;
let folder: string;
const table = `configdir${Date.now().toString(36)}`;

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(ALLOWLIST_|AzureWebJobsStorage$|GITHUB_|npm_)/.test(name)),
  );
  const child = spawn(process.execPath, [cli, ...args], {
    cwd: work,
    env: { ...inherited, ALLOWLIST_STORAGE: inject('azuriteConnectionString'), ALLOWLIST_TABLE: table, GITHUB_TOKEN: TOKEN, ...env },
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

/** A team's config: the CAS page's mail servers into its own file of the shared firewall repository. */
function teamConfig(name: string) {
  return {
    name,
    targets: [{ id: 'cas-mail', type: 'cas-docs', url: `${http.url}${PAGE}`, dataCenters: '*', sections: ['mail'] }],
    files: [{ path: `teams/${name}.txt`, format: 'plain', targets: ['cas-mail'] }],
    github: { owner: github.owner, repo: github.repo, base: github.base, apiUrl: github.url, dashboard: false },
  };
}

beforeAll(async () => {
  [http, github] = await Promise.all([
    startHttpPeer(
      routes({ [PAGE]: { body: sharedFile('fixtures/cas/network-requirements_2024-06-20.md'), contentType: 'text/plain; charset=utf-8' } }),
    ),
    startGitHubPeer({ token: TOKEN }),
  ]);
  work = mkdtempSync(join(tmpdir(), 'allowlist-drift-config-dir-'));
  folder = join(work, 'configs');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(folder);
  for (const name of ['partner-dmz', 'dlp-gateway', 'corporate-proxy'])
    writeFileSync(join(folder, `${name}.json`), JSON.stringify(teamConfig(name)));
});

afterAll(async () => {
  await Promise.all([http.close(), github.close()]);
  rmSync(work, { recursive: true, force: true });
});

describe('check --config-dir DIR --json over three configs that share the CAS page', () => {
  it('prints one document with three reports, and the GitHub peer gets three pull requests, one branch per config', async () => {
    const result = await run(['check', '--config-dir', folder, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { configs, warnings } = JSON.parse(result.stdout) as { configs: ConfigRun[]; warnings: string[] };
    expect(warnings).toEqual([]);
    expect(configs.map((c) => [c.name, c.origin, c.report?.configName, c.report?.pullRequest.action])).toEqual([
      ['corporate-proxy', join(folder, 'corporate-proxy.json'), 'corporate-proxy', 'created'],
      ['dlp-gateway', join(folder, 'dlp-gateway.json'), 'dlp-gateway', 'created'],
      ['partner-dmz', join(folder, 'partner-dmz.json'), 'partner-dmz', 'created'],
    ]);
    const pulls = github.pullRequests();
    expect(pulls.map((p) => [p.headRef, p.state]).sort()).toEqual([
      ['allowlist-drift/corporate-proxy', 'open'],
      ['allowlist-drift/dlp-gateway', 'open'],
      ['allowlist-drift/partner-dmz', 'open'],
    ]);
    expect(configs.map((c) => c.report!.pullRequest.number).sort()).toEqual(pulls.map((p) => p.number).sort());
    // Each PR changes its config's file only.
    for (const pull of pulls) {
      const name = pull.headRef.replace('allowlist-drift/', '');
      expect(github.readFile(pull.headRef, `teams/${name}.txt`)).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/m);
      for (const other of ['partner-dmz', 'dlp-gateway', 'corporate-proxy'].filter((n) => n !== name))
        expect(github.readFile(pull.headRef, `teams/${other}.txt`)).toBeNull();
    }
    expect(github.violations).toEqual([]);
    // The three configs watch one page: the run fetched it once and handed it to all three.
    expect(http.requests.filter((r) => r.method === 'GET' && r.path === PAGE)).toHaveLength(1);
    // GitHub's pacing of writes (one a second, as its secondary rate limit asks) makes three new PRs take a while.
  }, 120_000);

  it('status --config-dir lists one line per config with its open pull request', async () => {
    const result = await run(['status', '--config-dir', folder, '--json']);
    expect(result.code).toBe(0);
    const status = JSON.parse(result.stdout) as ConfigSetStatus;
    expect(status.configs.map((c) => [c.name, c.pullRequest?.number !== undefined, c.held, c.failed, c.lastGoodCheckAt !== null])).toEqual([
      ['corporate-proxy', true, [], [], true],
      ['dlp-gateway', true, [], [], true],
      ['partner-dmz', true, [], [], true],
    ]);
    const text = await run(['status', '--config-dir', folder]);
    expect(text.stdout.split('\n')[0]).toMatch(/^config +last run +last good check +held +partial +failed +pull request$/);
    expect(text.stdout).toMatch(/^dlp-gateway +\d{4}-.*#\d+$/m);
  });

  it('one invalid config reports its config error and the others still run; the exit status is the worst of them (2)', async () => {
    const broken = mkdtempSync(join(work, 'broken-'));
    writeFileSync(join(broken, 'good.json'), JSON.stringify({ ...teamConfig('good'), github: undefined }));
    writeFileSync(join(broken, 'bad.json'), '{ "name": "bad", "targets": [ }');
    writeFileSync(join(broken, 'inventory.json'), JSON.stringify({ hosts: [] }));
    const result = await run(['check', '--dry-run', '--config-dir', broken]);
    expect(result.code).toBe(2);
    expect(result.stdout).toContain(
      `== bad (${join(broken, 'bad.json')})\nconfig-invalid: The configuration in ${join(broken, 'bad.json')} is not valid:\n  - (root): not valid JSON`,
    );
    expect(result.stdout).toContain('Run ');
    expect(result.stdout).toMatch(/for config "good"\n/);
    expect(result.stdout).toContain(`warning: ${join(broken, 'inventory.json')}: skipped, not a config (a JSON file without "targets")`);
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(
      '2 configs: 1 checked in full, 0 with a target not ok or a run error, 1 not checked (config error or failure)',
    );
  });

  it('refuses --config with --config-dir, --target with --config-dir, and a folder that is not there (exit 2)', async () => {
    const both = await run(['check', '--config', 'a.json', '--config-dir', folder]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--config and --config-dir exclude each other');
    const target = await run(['check', '--config-dir', folder, '--target', 'cas-mail']);
    expect(target.code).toBe(2);
    expect(target.stderr).toContain('--target names a target of one config');
    const missing = await run(['status', '--config-dir', join(work, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`--config-dir ${join(work, 'nope')}: ${join(work, 'nope')}: no such folder`);
  });
});
