import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkAzdEnvironment, namesSet, retiredValueProblems } from '../../scripts/azd-preprovision.js';

const root = resolve(import.meta.dirname, '../..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const SECRET = 'github_pat_11AAAAAAA0secret0value0that0must0never0print';
const MOVE = 'azd env set ALLOWLIST_GITHUB_TOKEN "$(azd env get-value GITHUB_TOKEN)"';

let project: string;

beforeEach(() => {
  project = mkdtempSync(join(tmpdir(), 'allowlist-drift-azd-'));
});

afterEach(() => {
  rmSync(project, { recursive: true, force: true });
});

/** An azd environment as azd writes it: `.azure/<name>/.env`, KEY="value" per line. */
function environment(name: string, values: Record<string, string>): void {
  mkdirSync(join(project, '.azure', name), { recursive: true });
  const lines = Object.entries(values).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  writeFileSync(join(project, '.azure', name, '.env'), `${lines.join('\n')}\n`);
}

const check = (env: NodeJS.ProcessEnv) => checkAzdEnvironment({ root: project, env });

describe('the azd preprovision hook', () => {
  it('stops an environment that holds only GITHUB_TOKEN, with the command that moves it and without the token', () => {
    environment('prod', { AZURE_ENV_NAME: 'prod', AZURE_LOCATION: 'westeurope', GITHUB_TOKEN: SECRET });
    const result = check({ AZURE_ENV_NAME: 'prod' });
    expect(result.code).toBe(1);
    expect(result.message).toContain('the azd environment "prod" holds values this release no longer reads');
    expect(result.message).toContain(`${MOVE} -e prod`);
    expect(result.message).toContain('.azure/prod/.env');
    expect(result.message).not.toContain(SECRET);
  });

  it('lets an environment through once ALLOWLIST_GITHUB_TOKEN is set, or when it holds no token at all', () => {
    environment('moved', { GITHUB_TOKEN: SECRET, ALLOWLIST_GITHUB_TOKEN: SECRET });
    expect(check({ AZURE_ENV_NAME: 'moved' })).toEqual({ code: 0, message: '' });
    environment('app', { GITHUB_APP_ID: '123456', GITHUB_APP_PRIVATE_KEY: '-----BEGIN' });
    expect(check({ AZURE_ENV_NAME: 'app' })).toEqual({ code: 0, message: '' });
  });

  it("never reads the shell's GITHUB_TOKEN: only the azd environment's own values count", () => {
    environment('prod', { AZURE_LOCATION: 'westeurope' });
    expect(check({ AZURE_ENV_NAME: 'prod', GITHUB_TOKEN: SECRET })).toEqual({ code: 0, message: '' });
  });

  it('stops on the config values provision no longer applies, naming where the config lives now', () => {
    environment('prod', { ALLOWLIST_CONFIG_BASE64: 'e30=', GITHUB_OWNER: 'acme', GITHUB_REPO: 'firewall-rules' });
    const result = check({ AZURE_ENV_NAME: 'prod' });
    expect(result.code).toBe(1);
    const lines = result.message.split('\n').filter((line) => line.startsWith('  - '));
    expect(lines.map((line) => line.slice(4, line.indexOf(':')))).toEqual(['ALLOWLIST_CONFIG_BASE64', 'GITHUB_OWNER', 'GITHUB_REPO']);
    expect(result.message).toContain('allowlist-drift.config.json');
    expect(result.message).toContain('"github" section ("owner")');
  });

  it('says what is wrong when azd did not run it, and passes a fresh environment with no file', () => {
    expect(check({})).toEqual({ code: 2, message: expect.stringContaining('AZURE_ENV_NAME is not set') });
    expect(check({ AZURE_ENV_NAME: 'fresh' })).toEqual({ code: 0, message: '' });
  });

  it('reads names from an azd .env whatever its quoting, empty values counting as unset, garbage as nothing', () => {
    const names = namesSet(
      [
        'GITHUB_TOKEN=""',
        "ALLOWLIST_TABLE=''",
        'AZURE_LOCATION="westeurope"',
        'export X=1',
        '  SPACED = "a b"',
        '# comment',
        '=no-name',
        '\u0000\u0001garbage',
        'not a line',
      ].join('\r\n'),
    );
    expect([...names].sort()).toEqual(['AZURE_LOCATION', 'SPACED', 'X']);
    expect(retiredValueProblems({ environment: 'e', names: new Set(['GITHUB_TOKEN']) })).toHaveLength(1);
    expect(retiredValueProblems({ environment: 'e', names: new Set(['OTHER']) })).toEqual([]);
  });

  it('runs as the compiled script azure.yaml calls before every provision, exiting 1 with the message on stderr', () => {
    const yaml = read('azure.yaml');
    expect(yaml).toMatch(/^hooks:\n {2}preprovision:\n {4}posix:\n {6}shell: sh\n {6}run: npm run preprovision --silent\n/m);
    expect(yaml).toMatch(/^ {4}windows:\n {6}shell: pwsh\n {6}run: npm run preprovision --silent\n/m);
    const script = JSON.parse(read('package.json')).scripts.preprovision as string;
    expect(script).toBe('npm run build --silent && node dist/scripts/azd-preprovision.js');
    environment('prod', { GITHUB_TOKEN: SECRET });
    let failure: { status: number; stderr: string } | undefined;
    try {
      execFileSync(process.execPath, [join(root, 'dist/scripts/azd-preprovision.js')], {
        cwd: project,
        env: { PATH: process.env.PATH, AZURE_ENV_NAME: 'prod' },
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (error) {
      failure = error as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(1);
    expect(failure?.stderr).toContain(MOVE);
    expect(failure?.stderr).not.toContain(SECRET);
  });

  it('the template reads the token from ALLOWLIST_GITHUB_TOKEN, and the README gives the one command to move it', () => {
    const parameters = JSON.parse(read('infra/main.parameters.json')).parameters as Record<string, { value: string }>;
    expect(parameters.githubToken?.value).toBe('${ALLOWLIST_GITHUB_TOKEN}');
    // No parameter is fed by a name shells and CI runners set for their own use.
    const values = Object.values(parameters).map((parameter) => parameter.value);
    for (const name of ['GITHUB_TOKEN', 'GH_TOKEN', 'GITHUB_REPOSITORY', 'GITHUB_ACTOR']) {
      expect(values.filter((value) => value.startsWith(`\${${name}}`) || value.startsWith(`\${${name}=`))).toEqual([]);
    }
    const readme = read('README.md');
    expect(readme).toContain(MOVE);
    expect(readme).toContain('azd env set ALLOWLIST_GITHUB_TOKEN github_pat_');
  });
});
