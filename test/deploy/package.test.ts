import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildPackage, CONFIG_FOLDER, listFiles, PACKAGE_MAIN, type Package } from '../../scripts/package.js';
import { configSourceFromEnv, loadConfig } from '../../shared/config.js';
import { configSetSourceFromEnv, loadConfigSet } from '../../shared/config-set.js';
import { StateStore } from '../../shared/state/store.js';
import { programmingModel, registrations } from '../setup/functions-core.js';

const root = resolve(import.meta.dirname, '../..');

/**
 * The whole package zipped is about 0.5 MB; the production node_modules it replaces are about 77 MB in 10,000 files.
 * 1 MiB leaves the bundle room to grow and still fails when node_modules, source maps or the test tree slip in.
 */
const MAX_ZIP_BYTES = 1024 * 1024;

const TABLE = 'packagetest';

let out: string;
let built: Package;
let zipped: string[];

beforeAll(async () => {
  // Outside the repository, so no node_modules above the package can supply what the bundle lacks.
  out = mkdtempSync(join(tmpdir(), 'allowlist-drift-package-'));
  built = await buildPackage({ out });
  zipped = execFileSync('unzip', ['-Z1', built.zip], { encoding: 'utf8' }).trim().split('\n');
}, 120_000);

afterAll(() => {
  rmSync(out, { recursive: true, force: true });
});

/** The files of a folder, relative to it, with forward slashes, as the zip names them. */
function relativeFiles(folder: string): string[] {
  return listFiles(folder).map((file) => relative(folder, file).split(sep).join('/'));
}

function entryFiles(folder: string): string[] {
  return readdirSync(folder)
    .filter((file) => file.endsWith('.js'))
    .sort()
    .map((file) => join(folder, file));
}

/** What a registration tells the host: the name and every binding. */
function registered() {
  return registrations.map((r) => ({ name: r.metadata.name, bindings: r.metadata.bindings })).sort((a, b) => a.name.localeCompare(b.name));
}

describe('npm run package', () => {
  it('zips exactly the folder azd deploys, as a zip unzip reads without error', () => {
    expect(zipped.slice().sort()).toEqual(relativeFiles(built.app));
    expect(execFileSync('unzip', ['-tq', built.zip], { encoding: 'utf8' })).toMatch(/^No errors detected/);
  });

  it('holds host.json, the config, a package.json and the bundle: no sources, tests, peers, bench or node_modules', () => {
    for (const file of ['host.json', 'package.json', 'allowlist-drift.config.json']) expect(zipped).toContain(file);
    expect(readFileSync(join(built.app, 'host.json'), 'utf8')).toBe(readFileSync(join(root, 'host.json'), 'utf8'));
    // Chunk names come from the module split off: @azure/storage-blob's apache-arrow gives "Arrow.node-<hash>.js".
    const bundled = /^(functions\/[a-z-]+\.js|chunks\/[\w.-]+\.js|chunks\/[\w.-]+\.js\.LEGAL\.txt)$/;
    for (const name of zipped.filter((file) => !['host.json', 'package.json', 'allowlist-drift.config.json'].includes(file))) {
      expect(name).toMatch(bundled);
    }
    for (const name of zipped) {
      expect(name).not.toMatch(/(^|\/)(node_modules|test|peers|bench|fixtures|dist)\//);
      expect(name).not.toMatch(/\.(ts|map)$/);
    }
    const bundle = zipped.filter((file) => file.endsWith('.js')).map((file) => readFileSync(join(built.app, file), 'utf8'));
    expect(bundle.some((text) => text.includes('startGitHubPeer') || text.includes('startDnsPeer'))).toBe(false);
  });

  it('has a package.json with no dependencies whose main finds the bundled entry points, one per dist/functions entry', () => {
    const manifest = JSON.parse(readFileSync(join(built.app, 'package.json'), 'utf8'));
    const source = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(manifest).toEqual({
      name: source.name,
      version: source.version,
      private: true,
      type: 'module',
      main: PACKAGE_MAIN,
      engines: source.engines,
    });
    expect(PACKAGE_MAIN).toBe('functions/*.js');
    const names = (folder: string) => entryFiles(folder).map((file) => file.slice(folder.length + 1));
    expect(names(join(built.app, 'functions'))).toEqual(names(join(root, 'dist', 'functions')));
  });

  it("carries the checkout's config byte for byte, and the app settings infra sets load exactly that file", async () => {
    const packaged = join(built.app, 'allowlist-drift.config.json');
    expect(readFileSync(packaged, 'utf8')).toBe(readFileSync(join(root, 'allowlist-drift.config.json'), 'utf8'));
    // What the function app sees in Azure: the settings of function-app.bicep, the package as its root.
    const bicep = readFileSync(join(root, 'infra/modules/function-app.bicep'), 'utf8');
    const path = /^ {2}ALLOWLIST_CONFIG_PATH: '([^']+)'$/m.exec(bicep)?.[1];
    expect(path).toBe('allowlist-drift.config.json');
    expect(bicep).not.toMatch(/^ {2}ALLOWLIST_CONFIG:/m);
    const source = configSourceFromEnv({ ALLOWLIST_CONFIG_PATH: path });
    const deployed = await loadConfig({ ...source, baseDir: built.app });
    expect(deployed).toEqual(await loadConfig({ path: join(root, 'allowlist-drift.config.json') }));
  });

  it('carries a configs/ folder when the checkout has one, and ALLOWLIST_CONFIG_DIR=configs loads it from the package', async () => {
    // The checkout has no configs/ folder: the package holds none, and nothing else changes.
    expect(zipped.some((file) => file.startsWith(`${CONFIG_FOLDER}/`))).toBe(false);
    const sample = join(root, 'examples', 'configs');
    const withConfigs = await buildPackage({ out: join(out, 'with-configs'), configFolder: sample });
    const files = execFileSync('unzip', ['-Z1', withConfigs.zip], { encoding: 'utf8' }).trim().split('\n');
    const expected = readdirSync(sample).filter((name) => name.endsWith('.json'));
    expect(expected.length).toBeGreaterThanOrEqual(2);
    expect(files.filter((file) => file.startsWith(`${CONFIG_FOLDER}/`)).sort()).toEqual(
      expected.map((name) => `${CONFIG_FOLDER}/${name}`).sort(),
    );
    // The settings infra writes for a folder (ALLOWLIST_FOLDER=configs), the package as the app root.
    const source = configSetSourceFromEnv({ ALLOWLIST_CONFIG_PATH: 'allowlist-drift.config.json', ALLOWLIST_CONFIG_DIR: CONFIG_FOLDER });
    expect(source.kind).toBe('folder');
    const set = await loadConfigSet({ ...(source as Extract<typeof source, { kind: 'folder' }>), baseDir: withConfigs.app });
    expect(set.entries.map((entry) => [entry.name, entry.error])).toEqual([
      ['dlp-gateway', undefined],
      ['partner-dmz', undefined],
    ]);
  }, 120_000);

  it(`stays under ${MAX_ZIP_BYTES / 1024} KiB zipped`, () => {
    expect(statSync(built.zip).size).toBeLessThan(MAX_ZIP_BYTES);
  });

  it('registers the same functions with the same triggers and bindings as dist/functions, with no node_modules to lean on', async () => {
    for (let folder = built.app; dirname(folder) !== folder; folder = dirname(folder)) {
      expect(existsSync(join(folder, 'node_modules')), `${folder}/node_modules`).toBe(false);
    }
    for (const file of entryFiles(join(root, 'dist', 'functions'))) await import(pathToFileURL(file).href);
    const fromDist = registered();
    expect(fromDist.map((r) => r.name)).toEqual(['approve', 'casCheck', 'check', 'doctor', 'outsystemsCheck', 'runConfig', 'status']);
    registrations.length = 0;
    for (const file of entryFiles(join(built.app, 'functions'))) await import(pathToFileURL(file).href);
    expect(registered()).toEqual(fromDist);
    expect(programmingModel?.name).toBe('@azure/functions');
  });

  it('runs a dry check and reads the status through the bundled handlers, loading the chunks they import on first use', async () => {
    const connection = inject('azuriteConnectionString');
    process.env.ALLOWLIST_STORAGE = connection;
    process.env.ALLOWLIST_TABLE = TABLE;
    process.env.ALLOWLIST_CONFIG = JSON.stringify({
      name: 'package',
      targets: [{ id: 'partners', type: 'static', entries: ['20.60.1.5'] }],
    });
    delete process.env.ALLOWLIST_CONFIG_PATH;
    await StateStore.fromSetting(connection, { tableName: TABLE }).ensureTable();
    type Handler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;
    const load = async <T>(name: string) => (await import(pathToFileURL(join(built.app, 'functions', `${name}.js`)).href)) as T;
    const { checkHandler } = await load<{ checkHandler: Handler }>('check');
    const { statusHandler } = await load<{ statusHandler: Handler }>('status');
    const call = (handler: Handler, path: string) =>
      handler(
        new HttpRequest({ method: 'GET', url: `https://allowlist-drift.azurewebsites.net/api/${path}` }),
        new InvocationContext({ functionName: path, invocationId: `package-${path}` }),
      );

    const check = await call(checkHandler, 'check');
    expect(check.status).toBe(200);
    expect(check.jsonBody).toMatchObject({ dryRun: true, targets: [expect.objectContaining({ id: 'partners', status: 'ok' })] });
    const status = await call(statusHandler, 'status');
    expect(status.status).toBe(200);
  });
});
