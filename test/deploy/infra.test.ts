import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_SETTINGS, APP_SETTING_NAMES } from '../../shared/app-settings.js';
import { DEFAULT_RUN_QUEUE, poisonQueueOf } from '../../shared/queue/queue-name.js';
import { StateStore } from '../../shared/state/store.js';

// Bicep cannot be compiled here, so these tests hold the templates to the code by reading them as text.

const root = resolve(import.meta.dirname, '../..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const sorted = (names: Iterable<string>) => [...names].sort();

function listFiles(dir: string, extension: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name), extension) : entry.name.endsWith(extension) ? [join(dir, entry.name)] : [],
  );
}

const bicepFiles = listFiles('infra', '.bicep');

/** The keys of `var appSettings = { ... }` in the function app module: every app setting the deployment sets. */
function bicepAppSettings(): Map<string, string> {
  const text = read('infra/modules/function-app.bicep');
  const start = text.indexOf('\nvar appSettings = {\n');
  expect(start, 'function-app.bicep declares var appSettings').toBeGreaterThan(0);
  const end = text.indexOf('\n}\n', start);
  const settings = new Map<string, string>();
  for (const line of text.slice(start, end).split('\n').slice(2)) {
    const match = /^ {2}([A-Za-z_][A-Za-z0-9_]*): (.+)$/.exec(line);
    expect(match, `one setting per line in appSettings: ${JSON.stringify(line)}`).not.toBeNull();
    expect(settings.has(match![1]!), `${match![1]} set twice`).toBe(false);
    settings.set(match![1]!, match![2]!);
  }
  return settings;
}

function sampleSettings(): Record<string, string> {
  return JSON.parse(read('local.settings.sample.json')).Values as Record<string, string>;
}

/** The backticked setting names in the first column of the README's "App settings" table. */
function readmeSettings(): string[] {
  const readme = read('README.md');
  const start = readme.indexOf('\n## App settings\n');
  expect(start, 'README has an "App settings" section').toBeGreaterThan(0);
  const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1));
  const rows = section.split('\n').filter((line) => line.startsWith('|'));
  expect(rows.length).toBeGreaterThan(2);
  return rows.slice(2).flatMap((row) => {
    const firstCell = row.split('|')[1] ?? '';
    return [...firstCell.matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)].map((match) => match[1]!);
  });
}

const ENV_READ = /\benv\.([A-Za-z_][A-Za-z0-9_]*)|\benv\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\]|%([A-Za-z_][A-Za-z0-9_]*)%/g;

/**
 * Every app setting the runtime code names: `env.X`, `env['X']`, `%X%` (binding expressions) and quoted
 * SCREAMING_SNAKE_CASE strings (setting names kept in constants, such as the GitHub App trio or the default
 * LifeTime token setting). shared/app-settings.ts itself is left out: it is the list, not a reader.
 */
function settingsTheCodeReads(): { names: Set<string>; dynamicReaders: string[] } {
  const names = new Set<string>();
  const dynamicReaders: string[] = [];
  const sources = ['functions', 'shared', 'bin']
    .flatMap((dir) => listFiles(dir, '.ts'))
    .filter((file) => file !== join('shared', 'app-settings.ts'));
  for (const file of sources) {
    const text = read(file);
    // npm_command and npm_lifecycle_event are npm's own environment (bin/invocation.ts), not settings anyone sets.
    for (const match of text.matchAll(ENV_READ)) if (!match[0].startsWith('env.npm_')) names.add((match[1] ?? match[2] ?? match[3])!);
    for (const match of text.matchAll(/['"`]([A-Z][A-Z0-9]*_[A-Z0-9_]+)['"`]/g)) names.add(match[1]!);
    if (/\benv\[\s*[^'"\s]/.test(text)) dynamicReaders.push(file.split('\\').join('/'));
  }
  return { names, dynamicReaders };
}

describe('app settings: one list, held to the code, the templates, the local sample and the README', () => {
  it('names every setting once, each with a one-line description', () => {
    expect(new Set(APP_SETTING_NAMES).size).toBe(APP_SETTING_NAMES.length);
    for (const setting of APP_SETTINGS) {
      expect(setting.name).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
      expect(setting.description.trim(), setting.name).not.toBe('');
      expect(setting.description, setting.name).not.toContain('\n');
      expect(setting.azure || setting.local, `${setting.name} is set somewhere`).toBe(true);
    }
  });

  it('lists every setting the code reads, and the code reads every setting the list says it does', () => {
    const { names, dynamicReaders } = settingsTheCodeReads();
    for (const name of names) expect(APP_SETTING_NAMES, `${name} is read by the code`).toContain(name);
    const appSettings = APP_SETTINGS.filter((setting) => setting.readBy === 'app').map((setting) => setting.name);
    expect(sorted(appSettings)).toEqual(sorted(names));
    // A setting read through a variable name cannot be found by the patterns above: each such reader is known.
    expect(dynamicReaders.sort()).toEqual(['shared/publish/github/auth.ts', 'shared/sources/outsystems/lifetime.ts']);
  });

  it('infra sets exactly the settings the list marks for Azure', () => {
    const expected = APP_SETTINGS.filter((setting) => setting.azure).map((setting) => setting.name);
    expect(sorted(bicepAppSettings().keys())).toEqual(sorted(expected));
    // No other resource sets app settings behind the list's back.
    const configs = bicepFiles.flatMap((file) => [...read(file).matchAll(/name: 'appsettings'/g)].map(() => file));
    expect(configs).toEqual([join('infra', 'modules', 'function-app.bicep')]);
    expect(read('infra/modules/function-app.bicep')).toContain("name: 'appsettings'\n    properties: appSettings\n");
  });

  it('local.settings.sample.json holds exactly the settings the list marks local, with no secret filled in', () => {
    const sample = sampleSettings();
    const expected = APP_SETTINGS.filter((setting) => setting.local).map((setting) => setting.name);
    expect(sorted(Object.keys(sample))).toEqual(sorted(expected));
    for (const setting of APP_SETTINGS.filter((s) => s.local && s.secret)) expect(sample[setting.name], setting.name).toBe('');
  });

  it('the README "App settings" table lists exactly the settings of the list', () => {
    const names = readmeSettings();
    expect(new Set(names).size, 'each setting in one row').toBe(names.length);
    expect(sorted(names)).toEqual(sorted(APP_SETTING_NAMES));
  });

  it('in Azure every setting the app reads is set, directly or in its identity-based form, but the inline config', () => {
    const bicep = bicepAppSettings();
    // ALLOWLIST_CONFIG would win over the package's config file: see "the deployed config" below.
    for (const setting of APP_SETTINGS.filter((s) => s.readBy === 'app' && s.name !== 'ALLOWLIST_CONFIG')) {
      const set = bicep.has(setting.name) || bicep.has(`${setting.name}__accountName`);
      expect(set, `${setting.name} set in Azure`).toBe(true);
    }
  });

  it('secrets are Key Vault references resolved as the user-assigned identity; nothing is a key or a connection string', () => {
    const bicep = bicepAppSettings();
    const keyVaultReference = /^empty\(\w+SecretUri\) \? '' : '@Microsoft\.KeyVault\(SecretUri=\$\{\w+SecretUri\}\)'$/;
    for (const setting of APP_SETTINGS.filter((s) => s.azure && s.secret)) {
      expect(bicep.get(setting.name), setting.name).toMatch(keyVaultReference);
    }
    const functionApp = read('infra/modules/function-app.bicep');
    expect(functionApp).toContain('keyVaultReferenceIdentity: identityId');
    expect(read('infra/modules/key-vault.bicep')).toContain('enableRbacAuthorization: true');
    for (const [name, value] of bicep) {
      expect(value, name).not.toMatch(/AccountKey|listKeys|SharedAccessSignature|InstrumentationKey=/);
    }
    expect(bicep.get('AzureWebJobsStorage__credential')).toBe("'managedidentity'");
    expect(bicep.get('AzureWebJobsStorage__clientId')).toBe('identityClientId');
    expect(bicep.get('AZURE_CLIENT_ID')).toBe('identityClientId');
    expect(bicep.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')).toBe("'ClientId=${identityClientId};Authorization=AAD'");
    expect(read('infra/modules/storage.bicep')).toContain('allowSharedKeyAccess: false');
    expect(read('infra/modules/monitoring.bicep')).toContain('DisableLocalAuth: true');
  });

  it('sets none of the settings a Flex Consumption app must not have', () => {
    const bicep = bicepAppSettings();
    for (const name of [
      'FUNCTIONS_WORKER_RUNTIME',
      'FUNCTIONS_EXTENSION_VERSION',
      'WEBSITE_RUN_FROM_PACKAGE',
      'WEBSITE_NODE_DEFAULT_VERSION',
      'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
      'WEBSITE_CONTENTSHARE',
      'AzureWebJobsStorage',
    ]) {
      expect(bicep.has(name), name).toBe(false);
    }
  });

  it('points ALLOWLIST_STORAGE at the table endpoint in the URL form the state store opens with DefaultAzureCredential', () => {
    expect(bicepAppSettings().get('ALLOWLIST_STORAGE')).toBe('stateTableEndpoint');
    expect(read('infra/main.bicep')).toContain('stateTableEndpoint: storage.outputs.tableEndpoint');
    const output = /^output tableEndpoint string = '(.+)'$/m.exec(read('infra/modules/storage.bicep'))?.[1];
    expect(output).toBe('https://${account.name}.table.${environment().suffixes.storage}');
    // What Azure makes of it (the public cloud's suffix), opened the way the app opens it: no key, no network.
    const url = output!.replace('${account.name}', 'stallowlist0example').replace('${environment().suffixes.storage}', 'core.windows.net');
    expect(url).toBe('https://stallowlist0example.table.core.windows.net');
    const noToken = { getToken: async () => null };
    expect(() => StateStore.fromSetting(url, { tableName: 'allowlistdrift', credential: noToken })).not.toThrow();
  });

  it('runs Node.js 22 on a Flex Consumption (FC1) plan, a version package.json allows', () => {
    const functionApp = read('infra/modules/function-app.bicep');
    expect(functionApp).toMatch(/sku: \{\n\s+name: 'FC1'\n\s+tier: 'FlexConsumption'\n\s+\}/);
    expect(functionApp).toMatch(/runtime: \{\n\s+name: 'node'\n\s+version: '22'\n\s+\}/);
    expect(functionApp).toContain("type: 'UserAssignedIdentity'");
    expect(functionApp).toContain("'azd-service-name': 'api'");
    const engines = JSON.parse(read('package.json')).engines.node as string;
    expect(Number(/^>=(\d+)/.exec(engines)?.[1])).toBeLessThanOrEqual(22);
  });
});

describe('the deployed config: one place, the file of the package, so azd deploy of an edit takes effect', () => {
  it('no app setting holds a copy of the config, and ALLOWLIST_CONFIG_PATH names the file the package carries', () => {
    const bicep = bicepAppSettings();
    expect(bicep.has('ALLOWLIST_CONFIG')).toBe(false);
    expect(APP_SETTINGS.find((setting) => setting.name === 'ALLOWLIST_CONFIG')?.azure).toBe(false);
    expect(bicep.get('ALLOWLIST_CONFIG_PATH')).toBe("'allowlist-drift.config.json'");
    expect(read('scripts/package.ts')).toMatch(/^const COPIED = \[[^\]]*'allowlist-drift\.config\.json'[^\]]*\];$/m);
  });

  it('provision reads no config: no template loads the file, decodes one, or takes one as a parameter', () => {
    for (const file of bicepFiles) {
      const text = read(file);
      expect(text, file).not.toMatch(/loadTextContent\([^)]*config[^)]*\)|loadJsonContent\(|base64ToString\(/i);
      for (const [, name] of text.matchAll(/^param (\w+) /gm))
        expect(name, `${file}: param ${name}`).not.toMatch(/config|githubOwner|githubRepo/i);
    }
    const parameters = read('infra/main.parameters.json');
    expect(parameters).not.toMatch(/ALLOWLIST_CONFIG|GITHUB_OWNER|GITHUB_REPO/);
    const deploy = read('.github/workflows/deploy.yml');
    const provision = deploy.slice(deploy.indexOf('- name: Provision'), deploy.indexOf('- name: Deploy'));
    expect(provision).toContain('azd provision');
    expect(provision).not.toMatch(/ALLOWLIST_CONFIG_BASE64|GITHUB_OWNER|GITHUB_REPO/);
  });
});

/**
 * The built-in roles the templates assign, with their role definition IDs as Microsoft documents them
 * (learn.microsoft.com/azure/role-based-access-control/built-in-roles/<category>, checked against the
 * MicrosoftDocs/azure-docs sources of those pages).
 */
const DOCUMENTED_ROLES: Readonly<Record<string, { readonly id: string; readonly page: string }>> = {
  Reader: { id: 'acdd72a7-3385-48ef-bd42-f606fba81ae7', page: 'general' },
  'Storage Blob Data Owner': { id: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b', page: 'storage' },
  'Storage Queue Data Contributor': { id: '974c5e8b-45b9-4653-ba55-5f855dd0fb88', page: 'storage' },
  'Storage Table Data Contributor': { id: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3', page: 'storage' },
  'Key Vault Secrets User': { id: '4633458b-17de-408a-b874-0445c86b69e6', page: 'security' },
  'Monitoring Metrics Publisher': { id: '3913510d-42f4-4e42-8a64-420c390055eb', page: 'monitor' },
};

describe('role assignments: documented built-in roles, each named beside its ID', () => {
  const guidPattern = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

  it('every GUID in the templates is a documented built-in role ID with its role name in a comment on the same line', () => {
    const byId = new Map(Object.entries(DOCUMENTED_ROLES).map(([name, role]) => [role.id, name]));
    const seen = new Set<string>();
    for (const file of bicepFiles) {
      for (const line of read(file).split('\n')) {
        for (const [guid] of line.matchAll(guidPattern)) {
          const name = byId.get(guid.toLowerCase());
          expect(name, `${file}: ${guid} is a documented built-in role`).toBeDefined();
          expect(line, `${file}: the line of ${guid} names its role`).toMatch(new RegExp(`// ${name}$`));
          seen.add(name!);
        }
      }
    }
    expect(sorted(seen)).toEqual(sorted(Object.keys(DOCUMENTED_ROLES)));
  });

  it('assigns roles only through those IDs, to the identity as a service principal', () => {
    for (const file of bicepFiles) {
      const text = read(file);
      const roleIdVars = new Set([...text.matchAll(/^var (\w+RoleId) = '[0-9a-f-]{36}' \/\/ .+$/gm)].map((match) => match[1]!));
      for (const [, reference] of text.matchAll(/roleDefinitionId: (.+)$/gm)) {
        expect(reference, file).toMatch(/^subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions', (\w+RoleId)\)$/);
        const roleVar = /, (\w+RoleId)\)$/.exec(reference!)![1]!;
        expect(roleIdVars.has(roleVar), `${file}: ${roleVar} is declared with its GUID`).toBe(true);
      }
    }
  });

  it('grants Reader on a subscription only when a service-tags target uses "arm"', () => {
    const readerFiles = bicepFiles.filter((file) => read(file).includes(DOCUMENTED_ROLES.Reader!.id));
    expect(readerFiles).toEqual([join('infra', 'modules', 'subscription-reader.bicep')]);
    expect(read('infra/modules/subscription-reader.bicep')).toMatch(/^targetScope = 'subscription'$/m);
    const readerModule = /^module serviceTagsReader 'modules\/subscription-reader\.bicep' = if \(serviceTagsArm\) \{$/m;
    expect(read('infra/main.bicep')).toMatch(readerModule);
    expect(read('infra/main.bicep')).toMatch(/^param serviceTagsArm bool = false$/m);
  });
});

describe('the run queue: declared, reachable by the identity, and scaled out within a bound', () => {
  it('main.bicep names the queue the code defaults to, declares it and its poison queue, and sets ALLOWLIST_QUEUE to it', () => {
    const main = read('infra/main.bicep');
    expect(main).toContain(`var runQueue = '${DEFAULT_RUN_QUEUE}'\n`);
    expect(main).toContain('    runQueueName: runQueue\n');
    expect(main).toContain('    runQueue: runQueue\n');
    const storage = read('infra/modules/storage.bicep');
    expect(storage).toMatch(/resource queueService 'queueServices' = \{\n {4}name: 'default'/);
    expect(storage).toContain("resource runQueue 'queues' = {\n      name: runQueueName\n");
    // The host's poison queue is "<queue>-poison"; the worker writes garbage there itself (functions/runs.ts).
    expect(poisonQueueOf('q')).toBe('q-poison');
    expect(storage).toContain("resource poisonQueue 'queues' = {\n      name: '${runQueueName}-poison'\n");
    expect(bicepAppSettings().get('ALLOWLIST_QUEUE')).toBe('runQueue');
  });

  it('the identity holds Storage Queue Data Contributor on the account (the binding, the trigger and the deferral all use it)', () => {
    const storage = read('infra/modules/storage.bicep');
    const start = storage.indexOf("resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {");
    expect(start).toBeGreaterThan(0);
    const block = storage.slice(start, storage.indexOf('\n}\n', start));
    expect(block).toContain('scope: account');
    expect(block).toContain(
      "roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)",
    );
    expect(block).toContain('principalId: identityPrincipalId');
    // The code reaches the queue as the host does: AzureWebJobsStorage__accountName with the managed identity.
    expect(bicepAppSettings().get('AzureWebJobsStorage__accountName')).toBe('storageAccountName');
  });

  it('maximumInstanceCount is a bounded parameter that reaches Flex Consumption scaleAndConcurrency', () => {
    expect(read('infra/main.bicep')).toMatch(
      /@minValue\(40\)\n@maxValue\(1000\)\n@description\('[^']+'\)\nparam maximumInstanceCount int = 40\n/,
    );
    expect(read('infra/main.bicep')).toContain('    maximumInstanceCount: maximumInstanceCount\n');
    expect(read('infra/modules/function-app.bicep')).toMatch(/scaleAndConcurrency: \{\n {8}maximumInstanceCount: maximumInstanceCount\n/);
  });
});

describe('azd: azure.yaml, the parameters file and the templates fit together', () => {
  const azureYaml = read('azure.yaml');

  it('azure.yaml names the Bicep infra path and the function service', () => {
    expect(azureYaml).toMatch(/^infra:\n {2}provider: bicep\n {2}path: infra\n {2}module: main\n/m);
    expect(existsSync(join(root, 'infra', 'main.bicep'))).toBe(true);
    const service = /^services:\n {2}api:\n((?: {4}.*\n|\s*\n)+)/m.exec(azureYaml)?.[1] ?? '';
    expect(service).toMatch(/^ {4}project: \.$/m);
    expect(service).toMatch(/^ {4}language: (ts|js)$/m);
    expect(service).toMatch(/^ {4}host: function$/m);
  });

  it('the service deploys the folder npm run package writes, built here, with no hook of its own', () => {
    expect(azureYaml).toMatch(/^ {4}dist: \.package\/app$/m);
    expect(azureYaml).toMatch(/^ {4}remoteBuild: false$/m);
    expect(azureYaml).not.toMatch(/^ +hooks:/m);
    // azd runs the project's "package" script itself (npm run package, after npm run build) before it zips "dist".
    expect(JSON.parse(read('package.json')).scripts.package).toBe('npm run build --silent && node dist/scripts/package.js');
  });

  it('main.parameters.json passes only parameters main.bicep declares, every required one, each from an azd variable', () => {
    const bicep = read('infra/main.bicep');
    const params = [...bicep.matchAll(/^param (\w+) (\w+)( = .+)?$/gm)];
    const declared = new Map(params.map((match) => [match[1]!, { hasDefault: Boolean(match[3]) }]));
    const parameters = JSON.parse(read('infra/main.parameters.json')).parameters as Record<string, { value: unknown }>;
    for (const [name, { value }] of Object.entries(parameters)) {
      expect(declared.has(name), `${name} is a parameter of main.bicep`).toBe(true);
      expect(value, name).toMatch(/^\$\{[A-Z][A-Z0-9_]*(=[^}]*)?\}$/);
    }
    for (const [name, { hasDefault }] of declared) if (!hasDefault) expect(Object.keys(parameters), `${name} is required`).toContain(name);
  });

  it('every module and loaded file the templates name exists', () => {
    for (const file of bicepFiles) {
      const text = read(file);
      const exists = (path: string) => existsSync(join(root, dirname(file), path));
      for (const [, path] of text.matchAll(/^module \w+ '([^']+\.bicep)'/gm)) expect(exists(path!), `${file}: ${path}`).toBe(true);
      for (const [, path] of text.matchAll(/loadTextContent\('([^']+)'\)/g)) expect(exists(path!), `${file}: ${path}`).toBe(true);
    }
  });
});

/** Azure Functions Core Tools' .funcignore matcher (GitIgnoreParser.cs): each pattern anchored at the root, matched as a prefix. */
function coreToolsIgnores(patterns: readonly string[], path: string): boolean {
  const positive = patterns.filter((pattern) => !pattern.startsWith('!')).map((pattern) => pattern.replace(/^\//, ''));
  const negative = patterns.filter((pattern) => pattern.startsWith('!')).map((pattern) => pattern.slice(1).replace(/^\//, ''));
  const escape = (pattern: string) =>
    pattern
      .replace(/[-[\]/{}()+?.\\^$|]/g, '\\$&')
      .replace(/\*\*/g, '(.+)')
      .replace(/\*/g, '([^\\/]+)');
  const toRegex = (list: string[]) => (list.length === 0 ? /$^/ : new RegExp(`^((${list.map(escape).join(')|(')}))`));
  return !toRegex(negative).test(path) && toRegex(positive).test(path);
}

describe('.funcignore', () => {
  const patterns = read('.funcignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));

  it('anchors every entry at the root, so Core Tools and gitignore readers agree', () => {
    for (const pattern of patterns) expect(pattern, pattern).toMatch(/^\/[^*]+$/);
  });

  it('leaves out tests, fixtures, CI, infra, azd environments, benchmarks, coverage, docs and local settings', () => {
    for (const path of [
      'test/engine/files.test.ts',
      'test/fixtures/cas/network-requirements.md',
      '.ci/run',
      'infra/main.bicep',
      'azure.yaml',
      '.azure/prod/.env',
      '.package/app/host.json',
      '.package/allowlist-drift.zip',
      'scripts/package.ts',
      'dist/scripts/package.js',
      'bench/run.ts',
      '.bench/bench/run.js',
      'coverage/index.html',
      'docs/operations.md',
      'local.settings.json',
      '.allowlist-drift/state',
    ]) {
      expect(coreToolsIgnores(patterns, path), path).toBe(true);
    }
  });

  it('keeps everything the host loads, node_modules included', () => {
    for (const path of [
      'host.json',
      'package.json',
      'allowlist-drift.config.json',
      'dist/functions/check.js',
      'dist/functions/lib/runtime.js',
      'dist/shared/state/store.js',
      'dist/bin/allowlist-drift.js',
      'node_modules/@azure/functions/package.json',
      'node_modules/some-package/test/index.js',
    ]) {
      expect(coreToolsIgnores(patterns, path), path).toBe(false);
    }
  });
});
