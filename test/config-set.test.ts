import { BlobServiceClient } from '@azure/storage-blob';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConfigError } from '../shared/config.js';
import {
  configOf,
  configSetSourceFromEnv,
  loadConfigSet,
  selectConfig,
  UnknownConfigError,
  type ConfigEntry,
  type ConfigSet,
} from '../shared/config-set.js';

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'allowlist-drift-configset-'));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function config(name: string | undefined, repo = name ?? 'rules', path = 'edl/rules.txt') {
  return {
    ...(name ? { name } : {}),
    targets: [{ id: 'partners', type: 'static', entries: ['20.60.1.5'] }],
    files: [{ path, format: 'plain', targets: ['partners'] }],
    github: { owner: 'acme', repo },
  };
}

/** A fresh folder holding these files (an object is written as JSON, a string as it is). */
function folder(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(work, 'configs-'));
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

const loadFolder = (dir: string) => loadConfigSet({ kind: 'folder', dir, from: 'ALLOWLIST_CONFIG_DIR' });
const byName = (set: ConfigSet) => new Map(set.entries.map((entry) => [entry.name, entry]));
const problemsOf = (entry: ConfigEntry | undefined) => entry?.error?.problems ?? [];

describe('a folder of configs', () => {
  it('takes every *.json that is a config, named by its "name" or its file name; never host.json, package.json or a schema', async () => {
    const dir = folder({
      'dmz.config.json': config(undefined, 'dmz'),
      'proxy.json': config('corporate-proxy'),
      'host.json': { version: '2.0' },
      'package.json': { name: 'x', targets: [] },
      'local.settings.json': { Values: {} },
      'allowlist-drift.schema.json': { type: 'object', targets: {} },
      'notes.txt': 'not json',
    });
    mkdirSync(join(dir, 'drafts'));
    writeFileSync(join(dir, 'drafts', 'draft.json'), JSON.stringify(config('draft')));
    const set = await loadFolder(dir);
    expect(set.kind).toBe('folder');
    expect(set.entries.map((entry) => [entry.name, entry.origin, entry.error])).toEqual([
      ['corporate-proxy', join(dir, 'proxy.json'), undefined],
      ['dmz', join(dir, 'dmz.config.json'), undefined],
    ]);
    expect(set.warnings).toEqual([]);
    expect(configOf(selectConfig(set, 'dmz')).github).toMatchObject({ owner: 'acme', repo: 'dmz' });
  });

  it("skips a JSON file that is no config with a warning naming it, and reports an unparsable or invalid one as that config's error", async () => {
    const dir = folder({
      'good.json': config('good'),
      'inventory.json': { hosts: ['a', 'b'] },
      'broken.json': '{ "name": "broken", "targets": [',
      'typo.json': { name: 'typo', targets: [{ id: 'x', type: 'static', entrys: ['20.60.1.5'] }] },
    });
    const set = await loadFolder(dir);
    expect(set.warnings).toEqual([`${join(dir, 'inventory.json')}: skipped, not a config (a JSON file without "targets")`]);
    const entries = byName(set);
    expect([...entries.keys()]).toEqual(['broken', 'good', 'typo']);
    expect(entries.get('good')!.error).toBeUndefined();
    // An unparsable file is named after its file name; its error names the file.
    expect(entries.get('broken')!.error).toBeInstanceOf(ConfigError);
    expect(entries.get('broken')!.error!.message).toContain(`The configuration in ${join(dir, 'broken.json')} is not valid`);
    expect(problemsOf(entries.get('broken'))[0]).toMatch(/^\(root\): not valid JSON/);
    expect(problemsOf(entries.get('typo'))).toContainEqual(expect.stringMatching(/^targets\[0\]\.entrys: unknown key/));
    expect(() => configOf(entries.get('typo')!)).toThrow(ConfigError);
  });

  it('two files deriving the same name: both are config errors naming each other; the rest of the folder is unaffected', async () => {
    const dir = folder({ 'prod.json': config(undefined, 'one'), 'copy.json': config('prod', 'two'), 'other.json': config('other') });
    const entries = (await loadFolder(dir)).entries;
    expect(entries.map((entry) => [entry.name, entry.error === undefined])).toEqual([
      ['other', true],
      ['prod', false],
      ['prod', false],
    ]);
    const [copy, prod] = entries.filter((entry) => entry.name === 'prod');
    expect(problemsOf(copy)).toEqual([
      `name: "prod" is also the name of ${join(dir, 'prod.json')}; config names (the "name" key, else the file name) must be unique`,
    ]);
    expect(problemsOf(prod)[0]).toContain(`is also the name of ${join(dir, 'copy.json')}`);
  });

  it('two configs writing one file of one repository and base: both are errors naming the other and the file', async () => {
    const dir = folder({
      'a.json': config('team-a', 'Firewall', 'edl/shared.txt'),
      'b.json': config('team-b', 'firewall', 'edl/shared.txt'),
      // The same path in another repository is another file.
      'c.json': config('team-c', 'other', 'edl/shared.txt'),
    });
    const entries = byName(await loadFolder(dir));
    expect(problemsOf(entries.get('team-a'))).toEqual([
      `files: "edl/shared.txt" of acme/firewall@main is also written by "team-b" (${join(dir, 'b.json')}); two configs must not write the same file of one repository`,
    ]);
    expect(problemsOf(entries.get('team-b'))[0]).toContain(`is also written by "team-a" (${join(dir, 'a.json')})`);
    expect(entries.get('team-c')!.error).toBeUndefined();
  });

  it('two configs whose branch prefix and name make one branch of one repository: both are errors naming the branch', async () => {
    const dir = folder({
      'a.json': { ...config('x-y', 'firewall', 'edl/a.txt'), github: { owner: 'acme', repo: 'firewall', branchPrefix: 'team/' } },
      'b.json': { ...config('y', 'firewall', 'edl/b.txt'), github: { owner: 'acme', repo: 'firewall', branchPrefix: 'team/x-' } },
    });
    const entries = byName(await loadFolder(dir));
    expect(problemsOf(entries.get('x-y'))).toEqual([
      `github.branchPrefix: the branch "team/x-y" of acme/firewall is also the branch of "y" (${join(dir, 'b.json')}); give one a branchPrefix of its own`,
    ]);
    expect(problemsOf(entries.get('y'))).toHaveLength(1);
  });

  it('a folder that is missing, or holds no config, is an error of the whole set naming the setting and the folder', async () => {
    await expect(loadFolder(join(work, 'nope'))).rejects.toThrow(
      `ALLOWLIST_CONFIG_DIR ${join(work, 'nope')}: ${join(work, 'nope')}: no such folder; give the folder that holds the *.json configs`,
    );
    const empty = folder({ 'host.json': { version: '2.0' }, 'list.json': [1, 2] });
    const error = await loadFolder(empty).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems[0]).toMatch(
      /: no config in it \(a config is a \*\.json file with "targets"\); skipped: .*list\.json: skipped/,
    );
  });

  it('reads a relative folder from the app root, as the deployed package does', async () => {
    const set = await loadConfigSet({
      kind: 'folder',
      dir: 'examples/configs',
      from: 'ALLOWLIST_CONFIG_DIR',
      baseDir: resolve(import.meta.dirname, '..'),
    });
    expect(set.entries.map((entry) => [entry.name, entry.error])).toEqual([
      ['dlp-gateway', undefined],
      ['partner-dmz', undefined],
    ]);
  });
});

describe('choosing a config by name', () => {
  it('the only config without a name; several need one; an unknown name lists the known ones', async () => {
    const one = await loadFolder(folder({ 'solo.json': config('solo') }));
    expect(selectConfig(one, undefined).name).toBe('solo');
    const two = await loadFolder(folder({ 'a.json': config('a'), 'b.json': config('b') }));
    expect(() => selectConfig(two, undefined)).toThrow(
      expect.objectContaining({ code: 'config-required', message: expect.stringContaining('(a, b)') }),
    );
    const unknown = (() => {
      try {
        return selectConfig(two, 'c');
      } catch (error) {
        return error;
      }
    })();
    expect(unknown).toBeInstanceOf(UnknownConfigError);
    expect((unknown as Error).message).toBe('No config is named "c"; the configs are a, b');
  });
});

describe('which settings choose the configs', () => {
  it('the single-config settings work as before when no folder or container is set', () => {
    expect(configSetSourceFromEnv({ ALLOWLIST_CONFIG_PATH: 'x.json' })).toEqual({
      kind: 'single',
      source: { inline: undefined, path: 'x.json' },
    });
    expect(configSetSourceFromEnv({ ALLOWLIST_CONFIG_DIR: '  ' })).toMatchObject({ kind: 'single' });
    expect(configSetSourceFromEnv({ ALLOWLIST_CONFIG_DIR: 'configs' }, { config: 'one.json' })).toMatchObject({ kind: 'single' });
  });

  it('a folder or container replaces the default config file, which infra always names', () => {
    expect(configSetSourceFromEnv({ ALLOWLIST_CONFIG_DIR: 'configs', ALLOWLIST_CONFIG_PATH: 'allowlist-drift.config.json' })).toEqual({
      kind: 'folder',
      dir: 'configs',
      from: 'ALLOWLIST_CONFIG_DIR',
    });
    expect(configSetSourceFromEnv({ ALLOWLIST_CONFIG_CONTAINER: 'configs', AzureWebJobsStorage: 'UseDevelopmentStorage=true' })).toEqual({
      kind: 'container',
      container: 'configs',
      storage: 'UseDevelopmentStorage=true',
    });
    expect(configSetSourceFromEnv({}, { configDir: 'here' })).toEqual({ kind: 'folder', dir: 'here', from: '--config-dir' });
  });

  it.each([
    [
      { ALLOWLIST_CONFIG_DIR: 'configs', ALLOWLIST_CONFIG_CONTAINER: 'configs' },
      {},
      'ALLOWLIST_CONFIG_DIR and ALLOWLIST_CONFIG_CONTAINER are both set',
    ],
    [
      { ALLOWLIST_CONFIG_DIR: 'configs', ALLOWLIST_CONFIG: '{}' },
      {},
      'ALLOWLIST_CONFIG (one inline config) and ALLOWLIST_CONFIG_DIR are both set',
    ],
    [
      { ALLOWLIST_CONFIG_CONTAINER: 'c', ALLOWLIST_CONFIG_PATH: 'prod.json' },
      {},
      'ALLOWLIST_CONFIG_PATH (prod.json) and ALLOWLIST_CONFIG_CONTAINER are both set',
    ],
    [{}, { config: 'a.json', configDir: 'configs' }, '--config and --config-dir exclude each other'],
  ])('conflicting settings are a config error naming them: %j %j', (env, flags, message) => {
    expect(() => configSetSourceFromEnv(env, flags)).toThrow(ConfigError);
    expect(() => configSetSourceFromEnv(env, flags)).toThrow(message);
  });
});

describe('a Blob container of configs (Azurite)', () => {
  const storage = () => inject('azuriteConnectionString');

  async function container(blobs: Record<string, unknown>): Promise<string> {
    const name = `configs-${randomBytes(4).toString('hex')}`;
    const client = BlobServiceClient.fromConnectionString(storage()).getContainerClient(name);
    await client.create();
    for (const [blob, content] of Object.entries(blobs)) {
      const text = typeof content === 'string' ? content : JSON.stringify(content);
      await client.getBlockBlobClient(blob).upload(text, Buffer.byteLength(text));
    }
    return name;
  }

  it('reads the *.json blobs at the top of the container, with the same rules as a folder', async () => {
    const name = await container({
      'dmz.json': config('dmz'),
      'proxy.config.json': config(undefined, 'proxy'),
      'readme.md': '# configs',
      'drafts/draft.json': config('draft'),
      'bad.json': { name: 'bad', targets: [] },
    });
    const set = await loadConfigSet(configSetSourceFromEnv({ ALLOWLIST_CONFIG_CONTAINER: name, ALLOWLIST_STORAGE: storage() }));
    expect(set.kind).toBe('container');
    expect(set.entries.map((entry) => [entry.name, entry.origin, entry.error === undefined])).toEqual([
      ['bad', `${name}/bad.json`, false],
      ['dmz', `${name}/dmz.json`, true],
      ['proxy', `${name}/proxy.config.json`, true],
    ]);
    expect(byName(set).get('bad')!.error!.message).toContain(`The configuration in ${name}/bad.json is not valid`);
  });

  it('a container that does not exist, or a name that cannot be one, is an error with the fix', async () => {
    const missing = await loadConfigSet({ kind: 'container', container: 'no-such-container', storage: storage() }).catch((e: unknown) => e);
    expect(missing).toMatchObject({
      code: 'config-container-unreadable',
      message: 'ALLOWLIST_CONFIG_CONTAINER no-such-container: the container does not exist: create it, or fix the name',
    });
    await expect(loadConfigSet({ kind: 'container', container: 'Bad_Name', storage: storage() })).rejects.toMatchObject({
      code: 'config-container-invalid',
    });
    await expect(loadConfigSet({ kind: 'container', container: 'configs', storage: undefined })).rejects.toThrow(
      /neither is set; or give a container URL/,
    );
    await expect(
      loadConfigSet({ kind: 'container', container: 'http://acme.blob.core.windows.net/configs', storage: undefined }),
    ).rejects.toThrow(
      'ALLOWLIST_CONFIG_CONTAINER: the container URL must use https (plain http only for Azurite on this machine), not http://acme.blob.core.windows.net',
    );
    // A SAS in a container URL is not repeated in the error.
    const sas = 'sv=2024-01-01&sig=SECRETSIGNATURE';
    const port = new URL(/BlobEndpoint=([^;]+)/.exec(storage())![1]!).port;
    const unreadable = await loadConfigSet({
      kind: 'container',
      container: `http://127.0.0.1:${port}/devstoreaccount1/nope?${sas}`,
      storage: undefined,
    }).catch((e: unknown) => e);
    expect(unreadable).toMatchObject({ code: 'config-container-unreadable' });
    expect(JSON.stringify(unreadable)).not.toContain('SECRETSIGNATURE');
    // The account key of the connection string never reaches the message.
    expect(JSON.stringify(missing)).not.toContain('AccountKey');
  });
});
