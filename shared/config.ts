import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { aggregate, familyOf, prefixLengthOf, tryParseCidr, type Cidr, type IpFamily } from './ipset.js';
import { capacityConfigProblems } from './capacity/config-check.js';
import { fileFit, fileLimit, headroomWarn } from './capacity/limit.js';
import { splitPathProblems } from './capacity/split-path.js';
import { AllowlistError } from './problem.js';
import { DEFAULT_MAX_ADDRESSES_PER_RANGE, knownRangeProblems, MAX_ADDRESSES_PER_RANGE } from './render/template.js';
import { cidr, strictObject, tokenUrl } from './schema-kit.js';
import { SOURCES, sourceOf, TARGET_TYPES, type TargetType } from './sources/registry.js';
import type { SourceDefinition } from './sources/source.js';

export type { TargetType } from './sources/registry.js';
export const DEFAULT_CONFIG_FILE = 'allowlist-drift.config.json';
export const DEFAULT_GITHUB_API_URL = 'https://api.github.com';
const FILE_FORMATS = ['plain', 'json', 'tfvars-json', 'template'] as const;

/** Target, file and config ids: 1-64 lowercase letters, digits and dashes, not starting or ending with a dash. */
export const ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

/** zod's default for a failed union is just "Invalid input"; say what is accepted instead. */
function oneOf(values: readonly string[]) {
  const message = `must be one of ${values.map((v) => `"${v}"`).join(', ')}`;
  return (issue: z.core.$ZodRawIssue) => (issue.code === 'invalid_union' ? message : undefined);
}

const id = z.string().regex(ID_PATTERN, 'must be 1-64 lowercase letters, digits and dashes, not starting or ending with a dash');

const dnsServer = z.string().refine(isDnsServer, 'must be an IP address, optionally with :port ([v6]:port for IPv6)');

const exclude = z.array(cidr).optional().meta({
  description:
    'Addresses or CIDRs never proposed for this target, even when its source lists them; an approved one is proposed for removal. This is how a hand removal sticks.',
});

/** Every target has an id, its type, a description and exclusions; its source (shared/sources/<type>/schema.ts) adds the rest. */
function targetSchema<Type extends TargetType, Fields extends z.core.$ZodLooseShape>(type: Type, source: SourceDefinition<Fields>) {
  const schema = strictObject({ id, type: z.literal(type), description: z.string().optional(), exclude, ...source.fields });
  return source.meta ? schema.meta(source.meta) : schema;
}

type TargetSchema = { [Type in TargetType]: ReturnType<typeof targetSchema<Type, (typeof SOURCES)[Type]['fields']>> }[TargetType];
// The map loses which schema goes with which type; TargetSchema restores it.
const targetSchemas = TARGET_TYPES.map((type) => targetSchema(type, SOURCES[type] as SourceDefinition)) as unknown as [
  TargetSchema,
  ...TargetSchema[],
];

const target = z.discriminatedUnion('type', targetSchemas, {
  error: oneOf(TARGET_TYPES),
});

const fileBase = {
  id: z
    .string()
    .regex(/^[A-Za-z0-9._\/-]+$/, 'must be letters, digits, ".", "_", "/" and "-"')
    .optional()
    .meta({ description: 'Names the file in markers and state; defaults to the path.' }),
  path: z
    .string()
    .min(1)
    .refine(
      (p) => !p.startsWith('/') && !p.split('/').some((part) => part === '..' || part === '.' || part === ''),
      'must be a relative path inside the repository, without "." or ".." parts',
    )
    .meta({ description: 'Path of the rule file in the GitHub repository.' }),
  targets: z
    .array(id)
    .min(1, 'list the id of at least one target')
    .meta({ description: 'Ids of the targets whose addresses go into this file.' }),
  limit: fileLimit.optional(),
  headroomWarn,
  fit: fileFit.optional(),
};

/** For a consumer that takes one address family (an iptables block, an IPv4-only feed): the file gets only that family. */
const family = z.enum(['ipv4', 'ipv6']).optional().meta({
  description: 'Only this address family goes into the file (iptables takes IPv4; ip6tables gets a file of its own); default both.',
});

const file = z.discriminatedUnion(
  'format',
  [
    strictObject({ ...fileBase, format: z.literal('plain'), family }).meta({
      description: 'One CIDR per line: a Palo Alto EDL or FortiGate threat feed.',
    }),
    strictObject({ ...fileBase, format: z.literal('json') }).meta({ description: 'A JSON array of CIDR strings.' }),
    strictObject({
      ...fileBase,
      format: z.literal('tfvars-json'),
      variable: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'must be a Terraform variable name')
        .meta({ description: 'Writes "<variable>_ipv4" and "<variable>_ipv6" lists.' }),
    }),
    strictObject({
      ...fileBase,
      format: z.literal('template'),
      line: z
        .string()
        .refine((l) => /\{(cidr|ip|prefix)\}/.test(l), 'must contain {cidr}, {ip} or {prefix}')
        .refine(
          (l) => !l.includes('{prefix}') || /\{(cidr|ip)\}/.test(l),
          'has {prefix} without {ip} or {cidr}: a prefix length alone does not say which addresses to allow; use {cidr}, or {ip}/{prefix}',
        )
        .refine((l) => !/[\r\n]/.test(l), 'must be one line')
        .meta({
          description:
            'One line per CIDR, with {cidr}, {ip} (network address) and {prefix} (length) placeholders; a line with {ip} but neither {cidr} nor {prefix} is written once per address.',
        }),
      maxAddressesPerRange: z.int().min(1).max(MAX_ADDRESSES_PER_RANGE).default(DEFAULT_MAX_ADDRESSES_PER_RANGE).meta({
        description:
          'For a line written once per address ({ip} alone): the most addresses one range may have; a wider range is an error, not a partial list.',
      }),
      commentPrefix: z.string().min(1).max(8).default('#').meta({ description: 'Starts the BEGIN/END allowlist-drift marker lines.' }),
      family,
    }).meta({ description: 'Rewrites the lines between "BEGIN allowlist-drift:<id>" and "END allowlist-drift:<id>" markers.' }),
  ],
  { error: oneOf(FILE_FORMATS) },
);

const configSchema = strictObject({
  $schema: z.string().optional(),
  name: id.optional().meta({ description: 'Names this config in state, branches and file headers; defaults to the file name.' }),
  targets: z.array(target).min(1, 'list at least one target to watch'),
  dns: strictObject({
    servers: z.array(dnsServer).min(1).optional().meta({ description: 'Resolvers to ask; the system resolvers when absent.' }),
    timeoutMs: z.int().min(100).max(30_000).default(2_000),
    tries: z.int().min(1).max(5).default(2),
    concurrency: z.int().min(1).max(256).default(32),
    stabilityQueries: z.int().min(1).max(5).default(2),
  }).prefault({}),
  http: strictObject({
    timeoutMs: z.int().min(1_000).max(120_000).default(30_000),
    maxBytes: z
      .int()
      .min(1_024)
      .max(64 * 1024 * 1024)
      .default(16 * 1024 * 1024),
    // Optional rather than defaulted, so a config built in code keeps compiling; fetchDocument applies the default.
    reuseWithinSeconds: z.int().min(0).max(3_600).optional().meta({
      description:
        'A cached document the server confirmed less than this long ago is used without asking again (one upstream request per document per tick, however many configs and workers); default 300, 0 always asks.',
    }),
  }).prefault({}),
  github: strictObject({
    owner: z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, 'must be a GitHub user or organisation name'),
    repo: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'must be a repository name'),
    base: z.string().min(1).default('main'),
    apiUrl: tokenUrl.default(DEFAULT_GITHUB_API_URL),
    branchPrefix: z
      .string()
      .regex(/^[A-Za-z0-9._\/-]*$/, 'must be letters, digits, ".", "_", "/" and "-"')
      .default('allowlist-drift/'),
    labels: z.array(z.string().min(1).max(50)).default([]),
    reviewers: z.array(z.string().min(1)).default([]),
    teamReviewers: z.array(z.string().min(1)).default([]),
    dashboard: z
      .boolean()
      .default(true)
      .meta({ description: 'Keep a drift dashboard issue (statuses, held changes with a checkbox to approve each); false turns it off.' }),
  })
    .optional()
    .meta({ description: 'Where pull requests are opened; without it a check only reports.' }),
  files: z.array(file).default([]),
  policy: strictObject({
    removeAfterMisses: z.int().min(1).max(100).default(3),
    maxRemoveRatio: z.number().min(0).max(1).default(0.3),
    maxAddRatio: z.number().min(0).default(1),
    minChangeForRatio: z.int().min(0).default(3),
    maxNewRangesRatio: z.number().min(0).default(2).meta({
      description:
        'Hold a target adding more than this many times the ranges a family of its baseline has (and more than minNewRangesForRatio).',
    }),
    minNewRangesForRatio: z.int().min(0).default(2500).meta({
      description:
        'New ranges of a family up to this count are never held for their number (no real CAS, ODC or service-tag change came near it).',
    }),
    minPrefixLength: strictObject({
      ipv4: z.int().min(1).max(32).default(16),
      ipv6: z.int().min(1).max(128).default(32),
    }).prefault({}),
  }).prefault({}),
}).meta({
  title: 'allowlist-drift configuration',
  description: 'Which SaaS addresses to watch (targets) and which firewall rule files to keep in step with them (files).',
});

export type ConfigInput = z.input<typeof configSchema>;
type ParsedConfig = z.output<typeof configSchema>;
export type Target = ParsedConfig['targets'][number];
export type { CasDocsTarget, OdcTarget, OutSystemsTarget, ServiceTagsTarget, StaticTarget } from './sources/registry.js';
export type FileSpec = ParsedConfig['files'][number] & { id: string };
export type GitHubConfig = NonNullable<ParsedConfig['github']>;
export type DnsConfig = ParsedConfig['dns'];
export type HttpConfig = ParsedConfig['http'];
export type Policy = ParsedConfig['policy'];
export type Config = Omit<ParsedConfig, 'name' | 'files' | '$schema'> & { name: string; files: FileSpec[] };

/** A configuration that failed validation: one line per problem, each naming the key path. */
export class ConfigError extends AllowlistError {
  constructor(
    readonly problems: readonly string[],
    origin?: string,
  ) {
    super(
      'config-invalid',
      `The configuration${origin ? ` in ${origin}` : ''} is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

/** Validates an already-parsed JSON value. `fallbackName` names the config when it has no "name" key. */
export function parseConfig(value: unknown, fallbackName = 'default'): Config {
  const result = configSchema.safeParse(value);
  // The cross-reference checks read the raw input so that they still run when some field failed:
  // a user fixing one problem at a time would otherwise meet a new list after every fix.
  const problems = [...(result.success ? [] : problemsOf(result.error.issues)), ...crossReferenceProblems(value)];
  if (!result.success || problems.length > 0) throw new ConfigError(problems);
  const { $schema: _schema, name, files, ...rest } = result.data;
  const configName = name ?? fallbackName;
  if (!ID_PATTERN.test(configName)) {
    throw new ConfigError([
      `name: the config needs a "name" of lowercase letters, digits and dashes (derived "${configName}" from the file name is not one)`,
    ]);
  }
  return { ...rest, name: configName, files: files.map((f) => ({ ...f, id: f.id ?? f.path })) };
}

export function parseConfigText(text: string, fallbackName = 'default'): Config {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`(root): not valid JSON: ${describeJsonError(text, error as Error)}`]);
  }
  return parseConfig(value, fallbackName);
}

export interface ConfigSource {
  /** Inline JSON (the ALLOWLIST_CONFIG app setting) wins over a file. */
  readonly inline?: string | undefined;
  readonly path?: string | undefined;
  readonly baseDir?: string | undefined;
  /** What named `path`, for the error when it cannot be read: a command-line flag, or (the default) the app setting. */
  readonly pathFrom?: '--config' | 'ALLOWLIST_CONFIG_PATH';
}

/** Loads the configuration from inline JSON or a file: the single edge where config is validated. */
export async function loadConfig(source: ConfigSource): Promise<Config> {
  if (source.inline !== undefined && source.inline.trim() !== '') return parseConfigText(source.inline);
  const path = resolve(source.baseDir ?? process.cwd(), source.path ?? DEFAULT_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no configuration file there' : `cannot read it (${code ?? (error as Error).message})`;
    throw new ConfigError([unreadableConfigFile(source, path, reason)]);
  }
  try {
    return parseConfigText(text, nameFromPath(path));
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(error.problems, path);
    throw error;
  }
}

/** Names what pointed at the file, so the person fixes the flag or the setting they actually used. */
function unreadableConfigFile(source: ConfigSource, path: string, reason: string): string {
  if (source.path === undefined) {
    return `${path}: ${reason} (no config was named, so the default file was read); set ALLOWLIST_CONFIG_PATH to the config file, or ALLOWLIST_CONFIG to the config JSON itself (on the command line: --config <file>)`;
  }
  if (source.pathFrom === '--config') return `--config ${source.path}: ${path}: ${reason}; give --config the path of a config file`;
  return `ALLOWLIST_CONFIG_PATH: ${path}: ${reason}; set ALLOWLIST_CONFIG_PATH to the config file, or ALLOWLIST_CONFIG to the config JSON itself`;
}

/**
 * Where the configuration comes from, the first one given winning (README, "Where the config comes from"):
 *   1. `--config <file>` on the command line: an explicit choice beats what the shell's environment holds;
 *   2. ALLOWLIST_CONFIG, the config JSON itself (local runs and tests; infra/ does not set it);
 *   3. ALLOWLIST_CONFIG_PATH, a file relative to the app root;
 *   4. allowlist-drift.config.json in the app root.
 * In Azure it is 3, the file of the deployed package, so `azd deploy` of an edited config takes effect.
 */
export function configSourceFromEnv(env: NodeJS.ProcessEnv, configFlag?: string): ConfigSource {
  if (configFlag) return { path: configFlag, pathFrom: '--config' };
  return { inline: env.ALLOWLIST_CONFIG, path: env.ALLOWLIST_CONFIG_PATH };
}

/** "prod.config.json" -> "prod"; "allowlist-drift.config.json" -> "allowlist-drift". */
export function nameFromPath(path: string): string {
  return basename(path)
    .replace(/(\.config)?\.json$/i, '')
    .toLowerCase();
}

/** JSON Schema of the config input, published as allowlist-drift.schema.json for editors. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/** The exact bytes of the published allowlist-drift.schema.json. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

function problemsOf(issues: readonly z.core.$ZodIssue[], base: readonly PropertyKey[] = []): string[] {
  return issues.flatMap((issue) => {
    const path = [...base, ...issue.path];
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `${formatPath([...path, key])}: unknown key; ${issue.message}`);
    if (issue.code === 'invalid_union') {
      // When the value has the shape of exactly one alternative (a list, not "*"), that alternative's
      // own complaints ("sections[1]: invalid option") are more useful than "not any of them".
      const fitting = issue.errors.filter((branch) => branch.length > 0 && branch.every((inner) => inner.path.length > 0));
      if (fitting.length === 1) return problemsOf(fitting[0]!, path);
    }
    return [`${formatPath(path)}: ${issue.message}`];
  });
}

/**
 * Checks that relate one part of the config to another, on the raw JSON: duplicate ids and
 * paths, references to targets that do not exist, and choices spread over several keys.
 */
function crossReferenceProblems(input: unknown): string[] {
  if (!isRecord(input)) return [];
  const problems: string[] = [];
  const targets = Array.isArray(input.targets) ? input.targets : undefined;
  const targetIds = new Map<string, number>();
  targets?.forEach((t: unknown, index) => {
    if (!isRecord(t)) return;
    if (typeof t.id === 'string') {
      const first = targetIds.get(t.id);
      if (first === undefined) targetIds.set(t.id, index);
      else problems.push(`targets[${index}].id: "${t.id}" is already the id of targets[${first}]; target ids must be unique`);
    }
    if (typeof t.type === 'string') problems.push(...(sourceOf(t.type)?.problems?.(t, `targets[${index}]`) ?? []));
  });
  if (targets) problems.push(...everyAddressProblems(targets));

  const paths = new Map<string, number>();
  const fileIds = new Map<string, { index: number; explicit: boolean }>();
  const files: unknown[] = Array.isArray(input.files) ? input.files : [];
  files.forEach((f, index) => {
    if (!isRecord(f)) return;
    if (typeof f.path === 'string') {
      const first = paths.get(f.path);
      if (first === undefined) paths.set(f.path, index);
      else problems.push(`files[${index}].path: "${f.path}" is already the path of files[${first}]; each file can be listed once`);
    }
    const explicit = typeof f.id === 'string';
    const fileId = explicit ? f.id : f.path;
    if (typeof fileId === 'string') {
      const earlier = fileIds.get(fileId);
      // Two files without an "id" share one only when they share a path, which is reported above.
      if (earlier === undefined) fileIds.set(fileId, { index, explicit });
      else if (explicit || earlier.explicit)
        problems.push(
          `files[${index}].id: "${fileId}" is already the id of files[${earlier.index}]; file ids (default: the path) must be unique`,
        );
    }
    if (targets && Array.isArray(f.targets)) {
      f.targets.forEach((ref: unknown, refIndex) => {
        if (typeof ref === 'string' && !targetIds.has(ref)) {
          problems.push(
            `files[${index}].targets[${refIndex}]: no target has the id "${ref}" (the target ids are: ${[...targetIds.keys()].join(', ') || 'none'})`,
          );
        }
      });
    }
    if (targets) problems.push(...templateRangeProblems(f, index, targets));
    problems.push(...capacityConfigProblems(f, `files[${index}]`, targets ? fixedEntriesOf(f, targets) : []));
    problems.push(...splitPathProblems(f, `files[${index}]`));
  });
  return problems;
}

/** The keys of a target that hold addresses a person writes in the config. */
const CONFIGURED_LISTS = ['entries', 'vpnRanges'] as const;

/**
 * A config that allows every address of a family, in one entry or in entries that together cover it
 * (0.0.0.0/1 with 128.0.0.0/1), would be held at every run and no approval may release it: refused here instead,
 * naming where it is written.
 */
function everyAddressProblems(targets: readonly unknown[]): string[] {
  const lists = targets.flatMap((t, index) =>
    isRecord(t)
      ? CONFIGURED_LISTS.flatMap((key) => {
          const value = t[key];
          if (!Array.isArray(value)) return [];
          const cidrs = value.map((v: unknown) => (typeof v === 'string' ? tryParseCidr(v) : undefined));
          return [{ at: `targets[${index}].${key}`, cidrs }];
        })
      : [],
  );
  const whole = (cidrs: readonly (Cidr | undefined)[]) =>
    aggregate(cidrs.filter((c) => c !== undefined)).flatMap((c) => (prefixLengthOf(c) === 0 ? [familyOf(c)] : []));
  const why = 'no approval can release a rule that opens the firewall to everyone; list the ranges you need instead';
  const problems: string[] = [];
  const reported = new Set<IpFamily>();
  for (const list of lists) {
    for (const family of whole(list.cidrs)) {
      reported.add(family);
      const single = list.cidrs.findIndex((c) => c !== undefined && prefixLengthOf(c) === 0 && familyOf(c) === family);
      problems.push(
        single >= 0
          ? `${list.at}[${single}]: "${list.cidrs[single]}" allows every IPv${family} address; ${why}`
          : `${list.at}: its entries together cover every IPv${family} address (${EVERYTHING[family]}); ${why}`,
      );
    }
  }
  for (const family of whole(lists.flatMap((list) => list.cidrs))) {
    if (reported.has(family)) continue;
    const parts = lists.filter((list) => list.cidrs.some((c) => c !== undefined && familyOf(c) === family)).map((list) => list.at);
    problems.push(`${parts.join(', ')}: together cover every IPv${family} address (${EVERYTHING[family]}); ${why}`);
  }
  return problems;
}

const EVERYTHING: Readonly<Record<IpFamily, string>> = { 4: '0.0.0.0/0', 6: '::/0' };

/** The entries the config itself writes for a file's targets (static targets), as written. */
function fixedEntriesOf(file: Record<string, unknown>, targets: readonly unknown[]): unknown[] {
  if (!Array.isArray(file.targets)) return [];
  const listed = new Set<unknown>(file.targets);
  return targets.flatMap((t) =>
    isRecord(t) && typeof t.type === 'string' && listed.has(t.id) ? (sourceOf(t.type)?.fixedEntries?.(t) ?? []) : [],
  );
}

/** A template line written once per address ({ip} alone) that the config's own static entries already make fail. */
function templateRangeProblems(file: Record<string, unknown>, index: number, targets: readonly unknown[]): string[] {
  const cap = file.maxAddressesPerRange ?? DEFAULT_MAX_ADDRESSES_PER_RANGE;
  if (file.format !== 'template' || typeof file.line !== 'string' || typeof cap !== 'number' || !Array.isArray(file.targets)) return [];
  const entries = fixedEntriesOf(file, targets);
  return knownRangeProblems(file.line, cap, entries).map(
    (why) =>
      `files[${index}]: the line has {ip} without {cidr} or {prefix}, so it is written once per address, but its static targets hold a range too wide for that: ${why}`,
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function formatPath(path: readonly PropertyKey[]): string {
  const text = path
    .map((part, index) => {
      if (typeof part === 'number') return `[${part}]`;
      const key = String(part);
      if (!/^[A-Za-z_$][\w$-]*$/.test(key)) return `[${JSON.stringify(key)}]`;
      return index === 0 ? key : `.${key}`;
    })
    .join('');
  return text || '(root)';
}

/**
 * V8 reports either a character offset, which people want as a line and column, or a quote of the
 * text around the mistake, which may span lines; the problem list keeps one line per problem.
 */
function describeJsonError(text: string, error: Error): string {
  const message = error.message.replace(/\s+/g, ' ');
  const position = /at position (\d+)/.exec(message);
  // Node 22's V8 already adds "(line 2 column 17)" after the offset; older ones give only the offset.
  if (!position || /\(line \d+ column \d+\)/.test(message)) return message;
  const before = text.slice(0, Number(position[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${message} (line ${line}, column ${column})`;
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
