import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { parseCidr, type Cidr } from './ipset.js';

export const OUTSYSTEMS_DOMAIN = 'outsystemsenterprise.com';
export const DEFAULT_CONFIG_FILE = 'allowlist-drift.config.json';
export const DEFAULT_GITHUB_API_URL = 'https://api.github.com';
export const DEFAULT_ARM_URL = 'https://management.azure.com';

/** Section keys of the CAS network-requirements page; the README documents how headings map to them. */
export const CAS_SECTIONS = ['portal', 'siem', 'log-collector', 'app-connector', 'dlp', 'mail', 'proxy'] as const;
export type CasSection = (typeof CAS_SECTIONS)[number];

const ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const HOSTNAME_PATTERN = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$/i;

const id = z.string().regex(ID_PATTERN, 'must be 1-64 lowercase letters, digits and dashes, not starting or ending with a dash');

const cidr = z.string().transform((text, ctx): Cidr => {
  try {
    return parseCidr(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const hostname = z
  .string()
  .regex(HOSTNAME_PATTERN, 'must be a DNS hostname')
  .transform((name) => name.toLowerCase().replace(/\.$/, ''));

const httpsUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** A short front-end name ("prodfe1") is the Service Center name; OutSystems documents the suffix to add. */
const frontEnd = hostname.transform((name) => (name.includes('.') ? name : `${name}.${OUTSYSTEMS_DOMAIN}`));

const dnsServer = z.string().refine(isDnsServer, 'must be an IP address, optionally with :port ([v6]:port for IPv6)');

const wildcardOr = <T extends z.ZodType>(item: T) => z.union([z.literal('*'), z.array(item).min(1)]);

const outsystemsTarget = z.strictObject({
  id,
  type: z.literal('outsystems'),
  description: z.string().optional(),
  frontEnds: z.array(frontEnd).min(1, 'list at least one front-end server (Service Center > Monitoring > Environment Health)'),
  environmentHost: frontEnd.optional(),
  vpnRanges: z.array(cidr).default([]),
  lifetime: z
    .strictObject({
      url: httpsUrl,
      environmentKey: z.string().min(1).regex(/^[A-Za-z0-9-]+$/, 'must be a LifeTime environment key'),
      tokenSetting: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).default('LIFETIME_TOKEN'),
    })
    .optional(),
});

const casDocsTarget = z.strictObject({
  id,
  type: z.literal('cas-docs'),
  description: z.string().optional(),
  url: httpsUrl,
  dataCenters: wildcardOr(z.string().min(1).transform(normaliseDataCenter)),
  sections: wildcardOr(z.enum(CAS_SECTIONS)),
});

const serviceTagsTarget = z
  .strictObject({
    id,
    type: z.literal('service-tags'),
    description: z.string().optional(),
    url: httpsUrl.optional(),
    arm: z
      .strictObject({
        subscriptionId: z.uuid('must be a subscription id (a GUID)'),
        location: z.string().regex(/^[a-z0-9]+$/, 'must be an Azure location name such as westeurope'),
        baseUrl: httpsUrl.default(DEFAULT_ARM_URL),
        apiVersion: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).default('2024-05-01'),
      })
      .optional(),
    tags: z.array(z.string().min(1).max(200)).min(1),
  })
  .refine((t) => (t.url === undefined) !== (t.arm === undefined), {
    message: 'set exactly one of "url" (a ServiceTags JSON file) or "arm" (the Service Tags API)',
  });

const staticTarget = z.strictObject({
  id,
  type: z.literal('static'),
  description: z.string().optional(),
  entries: z.array(cidr).min(1),
});

const target = z.discriminatedUnion('type', [outsystemsTarget, casDocsTarget, serviceTagsTarget, staticTarget]);

const fileBase = {
  id: z.string().regex(/^[A-Za-z0-9._\/-]+$/, 'must be letters, digits, ".", "_", "/" and "-"').optional(),
  path: z
    .string()
    .min(1)
    .refine((p) => !p.startsWith('/') && !p.split('/').some((part) => part === '..' || part === '.' || part === ''), 'must be a relative path inside the repository, without "." or ".." parts'),
  targets: z.array(id).min(1),
};

const file = z.discriminatedUnion('format', [
  z.strictObject({ ...fileBase, format: z.literal('plain') }),
  z.strictObject({ ...fileBase, format: z.literal('json') }),
  z.strictObject({
    ...fileBase,
    format: z.literal('tfvars-json'),
    variable: z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'must be a Terraform variable name'),
  }),
  z.strictObject({
    ...fileBase,
    format: z.literal('template'),
    line: z.string().refine((l) => /\{(cidr|ip|prefix)\}/.test(l), 'must contain {cidr}, {ip} or {prefix}').refine((l) => !/[\r\n]/.test(l), 'must be one line'),
    commentPrefix: z.string().min(1).max(8).default('#'),
  }),
]);

const configSchema = z
  .strictObject({
    $schema: z.string().optional(),
    name: id.optional(),
    targets: z.array(target).min(1),
    dns: z
      .strictObject({
        servers: z.array(dnsServer).min(1).optional(),
        timeoutMs: z.int().min(100).max(30_000).default(2_000),
        tries: z.int().min(1).max(5).default(2),
        concurrency: z.int().min(1).max(256).default(32),
        stabilityQueries: z.int().min(1).max(5).default(2),
      })
      .prefault({}),
    http: z
      .strictObject({
        timeoutMs: z.int().min(1_000).max(120_000).default(30_000),
        maxBytes: z.int().min(1_024).max(64 * 1024 * 1024).default(16 * 1024 * 1024),
      })
      .prefault({}),
    github: z
      .strictObject({
        owner: z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, 'must be a GitHub user or organisation name'),
        repo: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'must be a repository name'),
        base: z.string().min(1).default('main'),
        apiUrl: httpsUrl.default(DEFAULT_GITHUB_API_URL),
        branchPrefix: z.string().regex(/^[A-Za-z0-9._\/-]*$/).default('allowlist-drift/'),
        labels: z.array(z.string().min(1).max(50)).default([]),
        reviewers: z.array(z.string().min(1)).default([]),
        teamReviewers: z.array(z.string().min(1)).default([]),
      })
      .optional(),
    files: z.array(file).default([]),
    policy: z
      .strictObject({
        removeAfterMisses: z.int().min(1).max(100).default(3),
        maxRemoveRatio: z.number().min(0).max(1).default(0.3),
        maxAddRatio: z.number().min(0).default(1),
        minChangeForRatio: z.int().min(0).default(3),
        minPrefixLength: z
          .strictObject({
            ipv4: z.int().min(1).max(32).default(16),
            ipv6: z.int().min(1).max(128).default(32),
          })
          .prefault({}),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    const ids = new Set<string>();
    config.targets.forEach((t, index) => {
      if (ids.has(t.id)) ctx.addIssue({ code: 'custom', path: ['targets', index, 'id'], message: `duplicate target id "${t.id}"` });
      ids.add(t.id);
    });
    const paths = new Set<string>();
    config.files.forEach((f, index) => {
      if (paths.has(f.path)) ctx.addIssue({ code: 'custom', path: ['files', index, 'path'], message: `duplicate file path "${f.path}"` });
      paths.add(f.path);
      f.targets.forEach((ref, refIndex) => {
        if (!ids.has(ref)) ctx.addIssue({ code: 'custom', path: ['files', index, 'targets', refIndex], message: `no target has the id "${ref}"` });
      });
    });
    config.targets.forEach((t, index) => {
      if (t.type === 'outsystems' && t.environmentHost && t.frontEnds.includes(t.environmentHost)) {
        const at = t.frontEnds.indexOf(t.environmentHost);
        ctx.addIssue({
          code: 'custom',
          path: ['targets', index, 'frontEnds', at],
          message: `"${t.environmentHost}" is the environment address: it resolves to load balancers whose IPs are not static; list the front-end servers instead`,
        });
      }
    });
  });

export type ConfigInput = z.input<typeof configSchema>;
type ParsedConfig = z.output<typeof configSchema>;
export type Target = ParsedConfig['targets'][number];
export type TargetType = Target['type'];
export type OutSystemsTarget = Extract<Target, { type: 'outsystems' }>;
export type CasDocsTarget = Extract<Target, { type: 'cas-docs' }>;
export type ServiceTagsTarget = Extract<Target, { type: 'service-tags' }>;
export type StaticTarget = Extract<Target, { type: 'static' }>;
export type FileSpec = ParsedConfig['files'][number] & { id: string };
export type GitHubConfig = NonNullable<ParsedConfig['github']>;
export type DnsConfig = ParsedConfig['dns'];
export type HttpConfig = ParsedConfig['http'];
export type Policy = ParsedConfig['policy'];
export type Config = Omit<ParsedConfig, 'name' | 'files' | '$schema'> & { name: string; files: FileSpec[] };

/** A configuration that failed validation: one line per problem, each naming the key path. */
export class ConfigError extends Error {
  readonly code = 'config-invalid';
  constructor(readonly problems: readonly string[]) {
    super(`The configuration is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates an already-parsed JSON value. `fallbackName` names the config when it has no "name" key. */
export function parseConfig(value: unknown, fallbackName = 'default'): Config {
  const result = configSchema.safeParse(value);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${formatPath(issue.path) || '(root)'}: ${issue.message}`));
  }
  const { $schema: _schema, name, files, ...rest } = result.data;
  const configName = name ?? fallbackName;
  if (!ID_PATTERN.test(configName)) {
    throw new ConfigError([`name: the config needs a "name" of lowercase letters, digits and dashes (derived "${configName}" from the file name is not one)`]);
  }
  return { ...rest, name: configName, files: files.map((f) => ({ ...f, id: f.id ?? f.path })) };
}

export function parseConfigText(text: string, fallbackName = 'default'): Config {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`(root): not valid JSON: ${(error as Error).message}`]);
  }
  return parseConfig(value, fallbackName);
}

export interface ConfigSource {
  /** Inline JSON (the ALLOWLIST_CONFIG app setting) wins over a file. */
  readonly inline?: string | undefined;
  readonly path?: string | undefined;
  readonly baseDir?: string | undefined;
}

/** Loads the configuration from inline JSON or a file: the single edge where config is validated. */
export async function loadConfig(source: ConfigSource): Promise<Config> {
  if (source.inline !== undefined && source.inline.trim() !== '') return parseConfigText(source.inline);
  const path = resolve(source.baseDir ?? process.cwd(), source.path ?? DEFAULT_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new ConfigError([`(file) ${path}: ${reason}; set ALLOWLIST_CONFIG_PATH or ALLOWLIST_CONFIG`]);
  }
  return parseConfigText(text, nameFromPath(path));
}

export function configSourceFromEnv(env: NodeJS.ProcessEnv): ConfigSource {
  return { inline: env.ALLOWLIST_CONFIG, path: env.ALLOWLIST_CONFIG_PATH };
}

/** "prod.config.json" -> "prod"; "allowlist-drift.config.json" -> "allowlist-drift". */
function nameFromPath(path: string): string {
  return basename(path).replace(/(\.config)?\.json$/i, '').toLowerCase();
}

/** JSON Schema of the config input, published as allowlist-drift.schema.json for editors. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`))
    .join('');
}

/** "US" and "EU" are the 2018 names of US1 and EU1; "Gov US1" becomes GOV-US1. */
export function normaliseDataCenter(name: string): string {
  const code = name.trim().toUpperCase().replace(/[\s_]+/g, '-');
  if (code === 'US') return 'US1';
  if (code === 'EU') return 'EU1';
  return code;
}

function isDnsServer(text: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) return ipaddr.IPv6.isValid(bracketed[1]!) && validPort(bracketed[2]);
  if (ipaddr.IPv6.isValid(text)) return true;
  const v4 = /^([\d.]+)(?::(\d{1,5}))?$/.exec(text);
  return v4 !== null && ipaddr.IPv4.isValidFourPartDecimal(v4[1]!) && validPort(v4[2]);
}

function validPort(port: string | undefined): boolean {
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}
