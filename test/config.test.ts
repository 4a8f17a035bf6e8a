import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// ajv comes with openapi-backend (a dev dependency); it is the JSON Schema validator editors' tooling mirrors.
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  configJsonSchema,
  configJsonSchemaText,
  configSourceFromEnv,
  loadConfig,
  parseConfig,
  parseConfigText,
  type CasDocsTarget,
  type OutSystemsTarget,
  type ServiceTagsTarget,
} from '../shared/config.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCHEMA_FILE = join(ROOT, 'allowlist-drift.schema.json');
const SAMPLE_FILE = join(ROOT, 'allowlist-drift.config.json');

/** A small valid config; each test breaks a copy of it. */
function valid(): Record<string, any> {
  return {
    targets: [
      { id: 'os-prod', type: 'outsystems', frontEnds: ['acme-fe1'], environmentHost: 'acme' },
      { id: 'cas', type: 'cas-docs', url: 'https://example.test/network-requirements.md', dataCenters: ['US1'], sections: ['mail'] },
      { id: 'tags', type: 'service-tags', url: 'https://example.test/ServiceTags_Public.json', tags: ['MicrosoftCloudAppSecurity'] },
      { id: 'partners', type: 'static', entries: ['198.51.100.7'] },
    ],
    files: [{ path: 'edl/all.txt', format: 'plain', targets: ['os-prod', 'cas', 'tags', 'partners'] }],
  };
}

function problems(input: unknown): readonly string[] {
  try {
    parseConfig(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the config to be rejected');
}

function broken(change: (config: Record<string, any>) => void): readonly string[] {
  const config = valid();
  change(config);
  return problems(config);
}

describe('parseConfig accepts a valid config', () => {
  it('applies every default', () => {
    const config = parseConfig(valid());
    expect(config.name).toBe('default');
    expect(config.dns).toEqual({ timeoutMs: 2_000, tries: 2, concurrency: 32, stabilityQueries: 2 });
    expect(config.http).toEqual({ timeoutMs: 30_000, maxBytes: 16 * 1024 * 1024 });
    expect(config.policy).toEqual({
      removeAfterMisses: 3,
      maxRemoveRatio: 0.3,
      maxAddRatio: 1,
      minChangeForRatio: 3,
      maxNewRangesRatio: 2,
      minNewRangesForRatio: 2500,
      minPrefixLength: { ipv4: 16, ipv6: 32 },
    });
    expect(config.github).toBeUndefined();
    expect((config.targets[0] as OutSystemsTarget).vpnRanges).toEqual([]);
    expect(config.files[0]!.id).toBe('edl/all.txt');
  });

  it('applies the defaults of optional blocks when they are present', () => {
    const input = valid();
    input.github = { owner: 'acme', repo: 'firewall-rules' };
    input.targets[2] = {
      id: 'tags',
      type: 'service-tags',
      arm: { subscriptionId: '0b1f6471-1bf0-4dda-aec3-cb9272f09590', location: 'westeurope' },
      tags: ['AzureFrontDoor.MicrosoftSecurity'],
    };
    input.targets[0].lifetime = { url: 'https://acme-lt.outsystemsenterprise.com', environmentKey: 'a1b2-c3' };
    input.files.push({
      id: 'fw',
      path: 'rules/iptables.rules',
      format: 'template',
      line: '-A INPUT -s {cidr} -j ACCEPT',
      targets: ['cas'],
    });
    const config = parseConfig(input);
    expect(config.github).toEqual({
      owner: 'acme',
      repo: 'firewall-rules',
      base: 'main',
      apiUrl: 'https://api.github.com',
      branchPrefix: 'allowlist-drift/',
      labels: [],
      reviewers: [],
      teamReviewers: [],
      dashboard: true,
    });
    expect(parseConfig({ ...input, github: { ...input.github, dashboard: false } }).github?.dashboard).toBe(false);
    expect((config.targets[2] as ServiceTagsTarget).arm).toEqual({
      subscriptionId: '0b1f6471-1bf0-4dda-aec3-cb9272f09590',
      location: 'westeurope',
      baseUrl: 'https://management.azure.com',
      apiVersion: '2024-05-01',
    });
    expect((config.targets[0] as OutSystemsTarget).lifetime?.tokenSetting).toBe('LIFETIME_TOKEN');
    expect(config.files[1]).toMatchObject({ id: 'fw', format: 'template', commentPrefix: '#' });
  });

  it('completes short front-end names and normalises hostnames, CIDRs and data centers', () => {
    const input = valid();
    input.targets[0] = {
      id: 'os-prod',
      type: 'outsystems',
      frontEnds: ['acme-fe1', 'ACME-FE2.OutSystemsEnterprise.com.', 'fe3.example.test'],
      environmentHost: 'acme',
      vpnRanges: ['10.42.7.9/16', '2001:DB8:0::/48'],
    };
    input.targets[1].dataCenters = ['us', 'Gov US1', 'eu2'];
    const config = parseConfig(input);
    const os = config.targets[0] as OutSystemsTarget;
    expect(os.frontEnds).toEqual(['acme-fe1.outsystemsenterprise.com', 'acme-fe2.outsystemsenterprise.com', 'fe3.example.test']);
    expect(os.environmentHost).toBe('acme.outsystemsenterprise.com');
    expect(os.vpnRanges).toEqual(['10.42.0.0/16', '2001:db8::/48']);
    expect((config.targets[1] as CasDocsTarget).dataCenters).toEqual(['US1', 'GOV-US1', 'EU2']);
  });

  it('accepts "*" for data centers and sections, and DNS servers with ports', () => {
    const input = valid();
    input.targets[1].dataCenters = '*';
    input.targets[1].sections = '*';
    input.dns = { servers: ['127.0.0.1:5353', '[::1]:53', '2606:4700:4700::1111', '9.9.9.9'] };
    const config = parseConfig(input);
    expect((config.targets[1] as CasDocsTarget).dataCenters).toBe('*');
    expect(config.dns.servers).toEqual(['127.0.0.1:5353', '[::1]:53', '2606:4700:4700::1111', '9.9.9.9']);
  });
});

describe('parseConfig rejects a wrong config with one message per problem, naming the key path', () => {
  it('rejects what is not a JSON object', () => {
    for (const value of [[], null, 42, 'targets', true]) {
      const found = problems(value);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatch(/^\(root\): .*expected object/);
    }
  });

  it('rejects text that is not JSON, saying where, on one line', () => {
    const jsonProblems = (text: string) => {
      try {
        parseConfigText(text);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).problems;
      }
      throw new Error('expected the text to be rejected');
    };
    expect(jsonProblems('{\n  "targets": [1 2]\n}')).toEqual([
      expect.stringMatching(/^\(root\): not valid JSON: .*\(line 2,? column 17\)$/),
    ]);
    // The line and column are given once, whether V8 or this code worked them out.
    expect(jsonProblems('{\n  "targets": [1 2]\n}')[0]!.match(/line 2/g)).toHaveLength(1);
    expect(jsonProblems('{\n  "targets": [,]\n}')).toEqual([expect.stringMatching(/^\(root\): not valid JSON: [^\n]*',[^\n]*$/)]);
    expect(jsonProblems('')).toEqual([expect.stringMatching(/^\(root\): not valid JSON: /)]);
  });

  it('rejects values of the wrong type', () => {
    expect(broken((c) => (c.targets = { id: 'x' }))).toEqual([expect.stringMatching(/^targets: .*expected array, received object/)]);
    expect(
      broken((c) => {
        c.dns = { timeoutMs: '2000', tries: 0 };
        c.policy = { maxRemoveRatio: 2 };
        c.targets[0].frontEnds = 'acme-fe1';
      }),
    ).toEqual([
      expect.stringMatching(/^targets\[0\]\.frontEnds: .*expected array, received string/),
      expect.stringMatching(/^dns\.timeoutMs: .*expected number, received string/),
      expect.stringMatching(/^dns\.tries: .*>=1/),
      expect.stringMatching(/^policy\.maxRemoveRatio: .*<=1/),
    ]);
  });

  it('rejects unknown keys, listing the keys accepted there', () => {
    expect(
      broken((c) => {
        c.target = [];
        c.targets[0].frontends = ['x'];
        c.targets[0].vpn = [];
      }),
    ).toEqual([
      'targets[0].frontends: unknown key; the keys accepted here are: id, type, description, exclude, frontEnds, environmentHost, vpnRanges, lifetime',
      'targets[0].vpn: unknown key; the keys accepted here are: id, type, description, exclude, frontEnds, environmentHost, vpnRanges, lifetime',
      'target: unknown key; the keys accepted here are: $schema, name, targets, dns, http, github, files, policy',
    ]);
  });

  it('rejects bad and duplicate ids', () => {
    expect(broken((c) => (c.targets[3].id = 'Partners_1'))).toEqual([
      'targets[3].id: must be 1-64 lowercase letters, digits and dashes, not starting or ending with a dash',
      'files[0].targets[3]: no target has the id "partners" (the target ids are: os-prod, cas, tags, Partners_1)',
    ]);
    expect(broken((c) => (c.name = '-prod'))).toEqual([expect.stringMatching(/^name: must be 1-64 lowercase/)]);
    expect(broken((c) => (c.targets[2].id = 'cas'))).toEqual([
      'targets[2].id: "cas" is already the id of targets[1]; target ids must be unique',
      'files[0].targets[2]: no target has the id "tags" (the target ids are: os-prod, cas, partners)',
    ]);
  });

  it('rejects a file that references an unknown target, or repeats a path or an id', () => {
    expect(
      broken((c) => {
        c.files[0].targets.push('os-test');
        c.files.push({ path: 'edl/all.txt', format: 'json', targets: ['cas'] });
        c.files.push({ id: 'edl/all.txt', path: 'edl/other.txt', format: 'json', targets: ['cas'] });
      }),
    ).toEqual([
      'files[0].targets[4]: no target has the id "os-test" (the target ids are: os-prod, cas, tags, partners)',
      'files[1].path: "edl/all.txt" is already the path of files[0]; each file can be listed once',
      'files[2].id: "edl/all.txt" is already the id of files[0]; file ids (default: the path) must be unique',
    ]);
  });

  it('rejects bad CIDRs in vpnRanges and static entries', () => {
    expect(
      broken((c) => {
        c.targets[0].vpnRanges = ['10.42.0.0/33', '10.42'];
        c.targets[3].entries = ['198.51.100.7', '2001:db8::/129', 'fe80::1%eth0', 'example.com'];
      }),
    ).toEqual([
      'targets[0].vpnRanges[0]: "10.42.0.0/33": the prefix length is above 32',
      'targets[0].vpnRanges[1]: "10.42": not an IP address or CIDR',
      'targets[3].entries[1]: "2001:db8::/129": the prefix length is above 128',
      'targets[3].entries[2]: "fe80::1%eth0": zone ids are not allowed',
      'targets[3].entries[3]: "example.com": not an IP address or CIDR',
    ]);
    expect(broken((c) => (c.targets[3].entries = []))).toEqual(['targets[3].entries: list at least one address or CIDR']);
  });

  it('rejects garbage in a target’s exclude, naming the key path', () => {
    expect(
      broken((c) => {
        c.targets[1].exclude = ['52.1.2.0/24', 'all of them', 7];
        c.targets[3].exclude = '52.1.2.3';
      }),
    ).toEqual([
      'targets[1].exclude[1]: "all of them": not an IP address or CIDR',
      'targets[1].exclude[2]: Invalid input: expected string, received number',
      'targets[3].exclude: Invalid input: expected array, received string',
    ]);
    const parsed = parseConfig({ targets: [{ id: 'x', type: 'static', entries: ['52.1.1.1'], exclude: ['52.1.2.9/24', '::1.2.3.4'] }] });
    expect(parsed.targets[0]!.exclude).toEqual(['52.1.2.0/24', '::102:304/128']);
  });

  it('rejects bad DNS servers', () => {
    expect(broken((c) => (c.dns = { servers: ['1.1.1.1:99999', '1.1.1.1:0', '::1:53x', 'dns.google'] }))).toEqual(
      [0, 1, 2, 3].map((i) => `dns.servers[${i}]: must be an IP address, optionally with :port ([v6]:port for IPv6)`),
    );
  });

  it('rejects URLs that are not http(s)', () => {
    expect(
      broken((c) => {
        c.targets[1].url = 'ftp://example.test/page.md';
        c.targets[2].url = 'file:///etc/passwd';
        c.targets[0].lifetime = { url: 'not a url', environmentKey: 'k' };
        c.github = { owner: 'acme', repo: 'rules', apiUrl: 'javascript:alert(1)' };
      }),
    ).toEqual([
      'targets[0].lifetime.url: must be an http(s) URL',
      'targets[1].url: must be an http(s) URL',
      'targets[2].url: must be an http(s) URL',
      'github.apiUrl: must be an http(s) URL',
    ]);
  });

  it('refuses plain http for every URL a token is sent to, except this machine', () => {
    const arm = (baseUrl: string) => ({ subscriptionId: '0b1f6471-1bf0-4dda-aec3-cb9272f09590', location: 'westeurope', baseUrl });
    const sendTokensTo = (url: string) => {
      const config = valid();
      config.targets[0].lifetime = { url, environmentKey: 'k' };
      delete config.targets[2].url;
      config.targets[2].arm = arm(url);
      config.github = { owner: 'acme', repo: 'rules', apiUrl: url };
      try {
        parseConfig(config);
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    };
    const why =
      'must be an https URL (a token is sent to it); plain http is accepted only for this machine (localhost, 127.0.0.0/8, [::1])';
    for (const remote of [
      'http://example.com',
      'http://example.com:443/api',
      'HTTP://10.0.0.1',
      'http://[2001:db8::1]',
      'http://128.0.0.1',
    ]) {
      expect(sendTokensTo(remote), remote).toEqual([
        `targets[0].lifetime.url: ${why}`,
        `targets[2].arm.baseUrl: ${why}`,
        `github.apiUrl: ${why}`,
      ]);
    }
    for (const local of [
      'https://example.com',
      'http://127.0.0.1:8080',
      'http://127.1.2.3',
      'http://localhost:7071',
      'http://[::1]:3000',
    ]) {
      expect(sendTokensTo(local), local).toEqual([]);
    }
    // The documents read without a token (CAS and ODC pages, a service-tags file) may still be plain http.
    const plainPage = valid();
    plainPage.targets[1].url = 'http://example.com/page.md';
    expect(parseConfig(plainPage).targets[1]).toMatchObject({ url: 'http://example.com/page.md' });
  });

  it('rejects a service-tags target with both url and arm, or neither', () => {
    const arm = { subscriptionId: '0b1f6471-1bf0-4dda-aec3-cb9272f09590', location: 'westeurope' };
    const expected = ['targets[2]: set exactly one of "url" (a ServiceTags JSON file) or "arm" (the Service Tags API)'];
    expect(broken((c) => (c.targets[2].arm = arm))).toEqual(expected);
    expect(broken((c) => delete c.targets[2].url)).toEqual(expected);
  });

  it('rejects an IP address as a front-end, saying front-ends are hostnames', () => {
    const message =
      'is an IP address; front-ends are hostnames (<name>.outsystemsenterprise.com, as Service Center > Monitoring > Environment Health lists them); to allow a fixed address, put it in vpnRanges or a "static" target';
    expect(broken((c) => c.targets[0].frontEnds.push('20.50.1.10', '2001:db8::1'))).toEqual([
      `targets[0].frontEnds[1]: ${message}`,
      `targets[0].frontEnds[2]: ${message}`,
    ]);
  });

  it('rejects configured entries that allow every address of a family, alone or together, naming where they are', () => {
    const why = 'no approval can release a rule that opens the firewall to everyone; list the ranges you need instead';
    expect(
      broken((c) => {
        c.targets[0].vpnRanges = ['10.0.0.0/8', '::/0'];
        c.targets[3].entries = ['0.0.0.0/1', '198.51.100.7', '128.0.0.0/1'];
      }),
    ).toEqual([
      `targets[0].vpnRanges[1]: "::/0" allows every IPv6 address; ${why}`,
      `targets[3].entries: its entries together cover every IPv4 address (0.0.0.0/0); ${why}`,
    ]);
    expect(
      broken((c) => {
        c.targets[0].vpnRanges = ['0.0.0.0/1'];
        c.targets[3].entries = ['2001:db8::1'];
        c.targets.push({ id: 'more', type: 'static', entries: ['128.0.0.0/2', '192.0.0.0/2'] });
      }),
    ).toEqual([`targets[0].vpnRanges, targets[4].entries: together cover every IPv4 address (0.0.0.0/0); ${why}`]);
    // Half of the address space is broad but deliberate: it is not refused.
    expect(() => parseConfig({ ...valid(), targets: [{ id: 'half', type: 'static', entries: ['0.0.0.0/1'] }], files: [] })).not.toThrow();
  });

  it('rejects the environment address listed as a front-end, however it is written', () => {
    const message =
      '"acme.outsystemsenterprise.com" is the environment address: it resolves to load balancers whose IPs are not static; list the front-end servers instead';
    expect(broken((c) => c.targets[0].frontEnds.push('acme'))).toEqual([`targets[0].frontEnds[1]: ${message}`]);
    expect(broken((c) => c.targets[0].frontEnds.unshift('ACME.outsystemsenterprise.com.'))).toEqual([
      `targets[0].frontEnds[0]: ${message}`,
    ]);
  });

  it('says what "*"-or-list keys accept, and names the bad list item', () => {
    expect(
      broken((c) => {
        c.targets[1].dataCenters = 'US1';
        c.targets[1].sections = ['portal', 'mail-server'];
      }),
    ).toEqual([
      'targets[1].dataCenters: must be "*" (all) or a non-empty list of data-center names such as ["US1", "EU1"]',
      expect.stringMatching(/^targets\[1\]\.sections\[1\]: .*"portal".*"proxy"/),
    ]);
    expect(
      broken((c) => {
        c.targets[1].dataCenters = [];
        c.targets[1].sections = 7;
      }),
    ).toEqual([
      'targets[1].dataCenters: list at least one, or use "*" for all',
      'targets[1].sections: must be "*" (all) or a non-empty list of sections (portal, siem, log-collector, app-connector, dlp, mail, proxy, notice)',
    ]);
  });

  it('names the accepted target types and file formats', () => {
    expect(
      broken((c) => {
        c.targets[3].type = 'fixed';
        delete c.targets[2].type;
        c.files[0].format = 'csv';
      }),
    ).toEqual([
      'targets[2].type: must be one of "outsystems", "cas-docs", "service-tags", "odc", "aws-ip-ranges", "github-meta", "m365", "static", "json", "text"',
      'targets[3].type: must be one of "outsystems", "cas-docs", "service-tags", "odc", "aws-ip-ranges", "github-meta", "m365", "static", "json", "text"',
      'files[0].format: must be one of "plain", "json", "tfvars-json", "template"',
    ]);
  });

  it('rejects file paths outside the repository and template lines without a placeholder', () => {
    expect(
      broken((c) => {
        c.files[0].path = '/etc/edl.txt';
        c.files.push({ path: 'rules/../../x', format: 'json', targets: ['cas'] });
        c.files.push({ path: 'rules/fw', format: 'template', line: 'allow all;', targets: ['cas'] });
        c.files.push({ path: 'rules/tf.json', format: 'tfvars-json', variable: '1st', targets: ['cas'] });
      }),
    ).toEqual([
      'files[0].path: must be a relative path inside the repository, without "." or ".." parts',
      'files[1].path: must be a relative path inside the repository, without "." or ".." parts',
      'files[2].line: must contain {cidr}, {ip} or {prefix}',
      'files[3].variable: must be a Terraform variable name',
    ]);
  });

  it('gives exactly three messages for a config with exactly three mistakes, cross-references included', () => {
    const found = broken((c) => {
      c.targets[0].vpnRanges = ['10.0.0.0/8', '300.1.1.1'];
      c.targets[2].arm = { subscriptionId: '0b1f6471-1bf0-4dda-aec3-cb9272f09590', location: 'westeurope' };
      c.files[0].targets[1] = 'cas-docs';
    });
    expect(found).toEqual([
      'targets[0].vpnRanges[1]: "300.1.1.1": not an IP address or CIDR',
      'targets[2]: set exactly one of "url" (a ServiceTags JSON file) or "arm" (the Service Tags API)',
      'files[0].targets[1]: no target has the id "cas-docs" (the target ids are: os-prod, cas, tags, partners)',
    ]);
  });

  it('puts one problem per line in the message, without a stack trace', () => {
    const config = valid();
    config.targets[3].entries = ['nope'];
    config.dns = { servers: ['1.1.1.1:99999'] };
    let error: ConfigError | undefined;
    try {
      parseConfig(config);
    } catch (caught) {
      error = caught as ConfigError;
    }
    expect(error?.code).toBe('config-invalid');
    expect(error?.message.split('\n')).toEqual([
      'The configuration is not valid:',
      '  - targets[3].entries[0]: "nope": not an IP address or CIDR',
      '  - dns.servers[0]: must be an IP address, optionally with :port ([v6]:port for IPv6)',
    ]);
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'allowlist-drift-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file and names the config after it', async () => {
    await writeFile(join(dir, 'prod.config.json'), JSON.stringify(valid()));
    await writeFile(join(dir, 'Staging.json'), JSON.stringify(valid()));
    expect((await loadConfig({ path: 'prod.config.json', baseDir: dir })).name).toBe('prod');
    expect((await loadConfig({ path: join(dir, 'Staging.json') })).name).toBe('staging');
    await writeFile(join(dir, 'named.config.json'), JSON.stringify({ ...valid(), name: 'from-key' }));
    expect((await loadConfig({ path: 'named.config.json', baseDir: dir })).name).toBe('from-key');
  });

  it('prefers inline JSON over the file, and ignores blank inline JSON', async () => {
    await writeFile(join(dir, 'file.config.json'), JSON.stringify({ ...valid(), name: 'from-file' }));
    const inline = JSON.stringify({ ...valid(), name: 'from-inline' });
    expect((await loadConfig({ inline, path: 'file.config.json', baseDir: dir })).name).toBe('from-inline');
    expect((await loadConfig({ inline: '  \n', path: 'file.config.json', baseDir: dir })).name).toBe('from-file');
    expect((await loadConfig({ inline: JSON.stringify(valid()) })).name).toBe('default');
  });

  it('reports a missing file as a ConfigError that names ALLOWLIST_CONFIG_PATH and the path', async () => {
    const missing = join(dir, 'absent.config.json');
    const error = await loadConfig({ path: missing }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      `ALLOWLIST_CONFIG_PATH: ${missing}: no configuration file there; set ALLOWLIST_CONFIG_PATH to the config file, or ALLOWLIST_CONFIG to the config JSON itself`,
    ]);
  });

  it('names the --config flag, not the setting, when the flag gave the path; and says when the default file was read', async () => {
    const missing = join(dir, 'absent.config.json');
    const flag = await loadConfig({ path: 'absent.config.json', baseDir: dir, pathFrom: '--config' }).catch((caught: unknown) => caught);
    expect((flag as ConfigError).problems).toEqual([
      `--config absent.config.json: ${missing}: no configuration file there; give --config the path of a config file`,
    ]);
    const fallback = await loadConfig({ baseDir: dir }).catch((caught: unknown) => caught);
    expect((fallback as ConfigError).problems[0]).toContain(
      `${join(dir, 'allowlist-drift.config.json')}: no configuration file there (no config was named, so the default file was read)`,
    );
  });

  it('names the file whose content is wrong', async () => {
    const path = join(dir, 'broken.config.json');
    await writeFile(path, '{"targets": []}');
    await expect(loadConfig({ path })).rejects.toThrow(
      `The configuration in ${path} is not valid:\n  - targets: list at least one target to watch`,
    );
  });

  it('reads its source from the app settings', () => {
    expect(configSourceFromEnv({ ALLOWLIST_CONFIG: '{}', ALLOWLIST_CONFIG_PATH: 'x.json', OTHER: 'y' })).toEqual({
      inline: '{}',
      path: 'x.json',
    });
    expect(configSourceFromEnv({})).toEqual({ inline: undefined, path: undefined });
  });

  it('takes --config first, then ALLOWLIST_CONFIG, then ALLOWLIST_CONFIG_PATH, then the default file', async () => {
    const file = (name: string) => join(dir, `${name}.config.json`);
    for (const name of ['flag', 'setting', 'allowlist-drift']) {
      await writeFile(file(name), JSON.stringify({ name, targets: [{ id: 'p', type: 'static', entries: ['198.51.100.1'] }] }));
    }
    const inline = JSON.stringify({ name: 'inline', targets: [{ id: 'p', type: 'static', entries: ['198.51.100.1'] }] });
    const nameFrom = async (env: NodeJS.ProcessEnv, flag?: string) =>
      (await loadConfig({ ...configSourceFromEnv(env, flag), baseDir: dir })).name;
    const everything = { ALLOWLIST_CONFIG: inline, ALLOWLIST_CONFIG_PATH: 'setting.config.json' };
    expect(await nameFrom(everything, 'flag.config.json')).toBe('flag');
    expect(await nameFrom(everything)).toBe('inline');
    expect(await nameFrom({ ALLOWLIST_CONFIG: '', ALLOWLIST_CONFIG_PATH: 'setting.config.json' })).toBe('setting');
    expect(await nameFrom({})).toBe('allowlist-drift');
    expect(configSourceFromEnv(everything, 'flag.config.json')).toEqual({ path: 'flag.config.json', pathFrom: '--config' });
  });
});

describe('published JSON Schema and sample config', () => {
  it('commits allowlist-drift.schema.json exactly as configJsonSchema() renders it (run bin/write-schema after changing the schema)', async () => {
    const committed = await readFile(SCHEMA_FILE, 'utf8');
    expect(committed).toBe(configJsonSchemaText());
    expect(configJsonSchemaText()).toBe(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    expect(configJsonSchema()).toMatchObject({ title: 'allowlist-drift configuration', description: expect.any(String) });
  });

  it('loads the sample config as npm start does', async () => {
    const config = await loadConfig({ path: SAMPLE_FILE });
    expect(config.name).toBe('example');
    const os = config.targets.find((t): t is OutSystemsTarget => t.type === 'outsystems');
    expect(os?.frontEnds).toEqual(['acme-fe1.outsystemsenterprise.com', 'acme-fe2.outsystemsenterprise.com']);
    expect(os?.vpnRanges).toEqual(['10.42.0.0/16']);
    expect(new Set(config.targets.map((t) => t.type))).toEqual(new Set(['outsystems', 'cas-docs', 'service-tags', 'static']));
    expect(new Set(config.files.map((f) => f.format))).toEqual(new Set(['plain', 'json', 'tfvars-json', 'template']));
    expect(config.files.find((f) => f.format === 'template')).toMatchObject({
      line: 'iptables -I INPUT -p tcp -s {cidr} --dport 11344 -j ACCEPT',
    });
    expect(config.github).toMatchObject({ owner: 'acme', repo: 'firewall-rules' });
  });

  it('lets a JSON Schema validator accept the sample and reject what the app rejects', async () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
    const validate = ajv.compile(JSON.parse(await readFile(SCHEMA_FILE, 'utf8')));
    const sample = JSON.parse(await readFile(SAMPLE_FILE, 'utf8'));
    expect(validate(sample), JSON.stringify(validate.errors)).toBe(true);

    const misspelt = valid();
    misspelt.targets[0].frontends = misspelt.targets[0].frontEnds;
    expect(validate(misspelt)).toBe(false);
    const bothSources = valid();
    bothSources.targets[2].arm = { subscriptionId: '0b1f6471-1bf0-4dda-aec3-cb9272f09590', location: 'westeurope' };
    expect(validate(bothSources)).toBe(false);
    expect(validate(valid())).toBe(true);
  });
});
