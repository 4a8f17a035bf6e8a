import { validateWorkflow } from '@action-validator/core';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateGuard } from './workflow-expression.js';

const root = resolve(import.meta.dirname, '../..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const WORKFLOWS = ['.github/workflows/ci.yml', '.github/workflows/deploy.yml'];

/** The commands of the `- run: ...` steps, in order. */
function runSteps(workflow: string): string[] {
  return [...workflow.matchAll(/^ +(?:- )?run: (.+)$/gm)].map((match) => match[1]!);
}

/** The first command of the README's "Tests" section. */
function readmeTestCommand(): string {
  const readme = read('README.md');
  const start = readme.indexOf('\n## Tests\n');
  expect(start, 'README has a "Tests" section').toBeGreaterThan(0);
  const block = /```sh\n(.+)\n/.exec(readme.slice(start))?.[1];
  expect(block).toBeDefined();
  return block!;
}

describe('GitHub workflows', () => {
  it('both validate against the workflow schema, and npm run lint validates every workflow file', () => {
    expect(readdirSync(join(root, '.github/workflows')).sort()).toEqual(['ci.yml', 'deploy.yml']);
    for (const file of WORKFLOWS) expect(validateWorkflow(read(file)).errors, file).toEqual([]);
    const lint = JSON.parse(read('package.json')).scripts.lint as string;
    for (const file of WORKFLOWS) expect(lint).toContain(`action-validator ${file}`);
  });

  it('the validator rejects a job without runs-on and an unknown key', () => {
    const ci = read('.github/workflows/ci.yml');
    const withoutRunner = ci.replace(/^ {4}runs-on: .+\n/m, '');
    expect(withoutRunner).not.toBe(ci);
    expect(validateWorkflow(withoutRunner).errors).toContainEqual(expect.objectContaining({ path: '/jobs/test' }));
    const misspelt = ci.replace(/^permissions:/m, 'permission:');
    expect(misspelt).not.toBe(ci);
    expect(validateWorkflow(misspelt).errors).toContainEqual(
      expect.objectContaining({ detail: "Additional property 'permission' is not allowed" }),
    );
  });

  it('CI runs on Node 22, the steps of .ci/run in their order, and the README test command', () => {
    const ci = read('.github/workflows/ci.yml');
    expect(ci).toMatch(/^on:\n {2}push:\n {2}pull_request:\n/m);
    expect(ci).toMatch(/- uses: actions\/setup-node@[0-9a-f]{40} # v[\d.]+\n +with:\n +node-version: 22\n +cache: npm\n/);
    const npmCommands = read('.ci/run')
      .split('\n')
      .filter((line) => line.startsWith('npm '));
    expect(npmCommands).toEqual(['npm ci --no-audit --no-fund', 'npm run typecheck', 'npm run lint', 'npm test']);
    const steps = runSteps(ci);
    expect(steps.slice(0, npmCommands.length)).toEqual(npmCommands);
    expect(steps).toContain(readmeTestCommand());
  });

  it('.ci/run runs on the Node 22 that .ci/node22 pins and fetches', () => {
    expect(read('.ci/node22')).toMatch(/^NODE_VERSION=22\.\d+\.\d+$/m);
    expect(read('.ci/run')).toMatch(/^PATH="\$\(\.ci\/node22\):\$PATH"$/m);
  });

  it('deploy signs in with OpenID Connect, compiles the Bicep, then provisions and deploys with azd', () => {
    const deploy = read('.github/workflows/deploy.yml');
    expect(deploy).toMatch(/^permissions:\n {2}id-token: write\n {2}contents: read\n/m);
    expect(deploy).toMatch(/- uses: azure\/login@[0-9a-f]{40} # v[\d.]+\n +with:\n +client-id: \$\{\{ vars\.AZURE_CLIENT_ID \}\}\n/);
    expect(deploy).toMatch(
      /^on:\n {2}workflow_dispatch:\n {2}workflow_run:\n {4}workflows: \[CI\]\n {4}types: \[completed\]\n {4}branches: \[main\]\n/m,
    );
    const steps = runSteps(deploy);
    const order = [
      'az bicep build --file infra/main.bicep',
      'azd auth login --client-id "$AZURE_CLIENT_ID" --federated-credential-provider github --tenant-id "$AZURE_TENANT_ID"',
      'azd provision --no-prompt',
      'azd deploy --no-prompt',
    ];
    const positions = order.map((command) => steps.findIndex((step) => step.startsWith(command)));
    expect(positions.every((position) => position >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    for (const name of ['AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'AZURE_SUBSCRIPTION_ID', 'AZURE_ENV_NAME', 'AZURE_LOCATION']) {
      expect(deploy).toContain(`      ${name}: \${{ vars.${name} }}\n`);
    }
  });

  it('what deploy hands azd provision are template parameters, and secrets come from secrets only', () => {
    const deploy = read('.github/workflows/deploy.yml');
    const provision = /- name: Provision\n +run: azd provision.*\n(?: +#.*\n)* +env:\n((?: {10}.+\n)+)/.exec(deploy)?.[1];
    expect(provision).toBeDefined();
    const passed = [...provision!.matchAll(/^ +([A-Z][A-Z0-9_]*): \$\{\{ (vars|secrets)\.([A-Z][A-Z0-9_]*) \}\}$/gm)];
    expect(passed.length).toBe(provision!.trimEnd().split('\n').length);
    const parameters = read('infra/main.parameters.json');
    for (const [, name, kind] of passed) {
      expect(parameters, `${name} is an azd value the template reads`).toMatch(new RegExp(`"\\$\\{${name}(=[^}]*)?\\}"`));
      const secret = /TOKEN|KEY|CONFIG/.test(name!);
      expect(kind, name).toBe(secret ? 'secrets' : 'vars');
    }
  });

  it('every action of both workflows is pinned to a full commit SHA, with its tag as a trailing comment', () => {
    for (const file of WORKFLOWS) {
      const uses = read(file)
        .split('\n')
        .filter((line) => /\buses:/.test(line));
      expect(uses.length, file).toBeGreaterThan(0);
      for (const line of uses) {
        // A tag or branch can be moved to other code; a commit cannot. The comment says which release it is.
        expect(line, file).toMatch(/^ +(?:- )?uses: [\w.-]+\/[\w.-]+(?:\/[\w./-]+)?@[0-9a-f]{40} # v\d+(?:\.\d+){0,2}$/);
      }
    }
  });

  it('deploy runs after CI only for a successful push to this repository, never for a pull request or a fork', () => {
    const deploy = read('.github/workflows/deploy.yml');
    const block = /^ {4}if: >-\n((?: {6}.+\n)+)/m.exec(deploy)?.[1];
    expect(block, 'the deploy job has a folded if: >- guard').toBeDefined();
    const guard = block!
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .join(' ');
    const repository = 'acme/allowlist-drift';
    const afterCi = (run: Record<string, unknown>) =>
      evaluateGuard(guard, {
        github: {
          event_name: 'workflow_run',
          repository,
          event: {
            workflow_run: { conclusion: 'success', event: 'push', head_branch: 'main', head_repository: { full_name: repository }, ...run },
          },
        },
      });
    expect(afterCi({})).toBe(true);
    expect(afterCi({ head_repository: { full_name: 'ACME/Allowlist-Drift' } })).toBe(true); // GitHub compares names without case
    expect(afterCi({ conclusion: 'failure' })).toBe(false);
    // A fork's pull request from its own branch named main: CI completes with success on "main".
    expect(afterCi({ event: 'pull_request', head_repository: { full_name: 'mallory/allowlist-drift' } })).toBe(false);
    expect(afterCi({ event: 'pull_request' })).toBe(false);
    expect(afterCi({ event: 'pull_request_target' })).toBe(false);
    expect(afterCi({ head_repository: { full_name: 'mallory/allowlist-drift' } })).toBe(false);
    expect(afterCi({ head_repository: null })).toBe(false);
    expect(evaluateGuard(guard, { github: { event_name: 'workflow_dispatch', repository } })).toBe(true);
  });

  it('deploy stops, before anything else, while a variable of an earlier release would be ignored', () => {
    const deploy = read('.github/workflows/deploy.yml');
    const steps = deploy.slice(deploy.indexOf('    steps:\n'));
    expect(steps).toMatch(/^ {4}steps:\n {6}- name: Refuse the variables earlier releases read\n/);
    for (const [name, kind] of [
      ['ALLOWLIST_GITHUB_OWNER', 'vars'],
      ['ALLOWLIST_GITHUB_REPO', 'vars'],
      ['ALLOWLIST_CONFIG_BASE64', 'secrets'],
    ]) {
      expect(steps).toContain(`\${{ ${kind}.${name} }}`);
    }
    expect(steps).toContain('test -z "$RETIRED_OWNER$RETIRED_REPO$RETIRED_CONFIG" || {');
  });

  it('deploy runs in the production environment, whose required reviewers the README has you set up', () => {
    const deploy = read('.github/workflows/deploy.yml');
    expect(deploy).toMatch(/^ {4}environment: production$/m);
    const readme = read('README.md');
    const section = readme.slice(readme.indexOf('### Deploying from GitHub Actions'));
    expect(section).toMatch(/Required reviewers/);
    expect(section).toContain('environment:production');
  });
});
