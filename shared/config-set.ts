import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  ConfigError,
  configSourceFromEnv,
  DEFAULT_CONFIG_FILE,
  loadConfig,
  nameFromPath,
  parseConfigText,
  type Config,
  type ConfigSource,
} from './config.js';
import { AllowlistError } from './problem.js';

/**
 * Where an app's configs come from (README, "One config, a folder or a container"):
 *   - one config: ALLOWLIST_CONFIG, ALLOWLIST_CONFIG_PATH or --config, as before;
 *   - a folder: ALLOWLIST_CONFIG_DIR or --config-dir, every `*.json` in it that is a config;
 *   - a container: ALLOWLIST_CONFIG_CONTAINER, every `*.json` blob in it, read on each run so a config added there
 *     takes effect without a redeploy.
 */
export type ConfigSetSource =
  | { readonly kind: 'single'; readonly source: ConfigSource }
  | { readonly kind: 'folder'; readonly dir: string; readonly from: '--config-dir' | 'ALLOWLIST_CONFIG_DIR'; readonly baseDir?: string }
  | { readonly kind: 'container'; readonly container: string; readonly storage: string | undefined };

/** One config of a set: its name, where it was read, and either the config or why it is not one. */
export type ConfigEntry =
  | { readonly name: string; readonly origin: string; readonly config: Config; readonly error?: undefined }
  | { readonly name: string; readonly origin: string; readonly config?: undefined; readonly error: ConfigError };

export interface ConfigSet {
  readonly kind: ConfigSetSource['kind'];
  /** Sorted by name; each config runs on its own, so one invalid config does not stop the others. */
  readonly entries: readonly ConfigEntry[];
  /** Files that were skipped because they are not configs, one line each naming the file. */
  readonly warnings: readonly string[];
}

/** A document of a folder or container: its file or blob name and where it is, for messages. */
export interface ConfigDocument {
  readonly fileName: string;
  readonly origin: string;
  readonly text: string;
  /** Why the document was not read (too large to be a config): an error of that config. */
  readonly unreadable?: string;
}

/** JSON files that live beside configs in an app root and are never configs, so they are not even warned about. */
const NEVER_CONFIGS = [/^host\.json$/i, /^package(-lock)?\.json$/i, /^local\.settings.*\.json$/i, /\.schema\.json$/i];

/**
 * The settings that choose the configs. A folder or container replaces the single config: ALLOWLIST_CONFIG (inline)
 * beside either, both of them together, or ALLOWLIST_CONFIG_PATH set to another file than the default one (which
 * infra/ always sets) beside either, is a conflict refused with the settings named; on the command line --config
 * and --config-dir exclude each other, and either wins over the environment.
 */
export function configSetSourceFromEnv(env: NodeJS.ProcessEnv, flags: { config?: string; configDir?: string } = {}): ConfigSetSource {
  if (flags.config !== undefined && flags.configDir !== undefined)
    throw conflict('--config and --config-dir exclude each other: give one config file or one folder of them');
  if (flags.configDir !== undefined) return { kind: 'folder', dir: flags.configDir, from: '--config-dir' };
  if (flags.config !== undefined) return { kind: 'single', source: configSourceFromEnv(env, flags.config) };
  const dir = setting(env.ALLOWLIST_CONFIG_DIR);
  const container = setting(env.ALLOWLIST_CONFIG_CONTAINER);
  if (dir === undefined && container === undefined) return { kind: 'single', source: configSourceFromEnv(env) };
  if (dir !== undefined && container !== undefined)
    throw conflict('ALLOWLIST_CONFIG_DIR and ALLOWLIST_CONFIG_CONTAINER are both set: keep the one the configs are in');
  const chosen = dir !== undefined ? 'ALLOWLIST_CONFIG_DIR' : 'ALLOWLIST_CONFIG_CONTAINER';
  if (setting(env.ALLOWLIST_CONFIG) !== undefined)
    throw conflict(`ALLOWLIST_CONFIG (one inline config) and ${chosen} are both set: remove one of them`);
  const path = setting(env.ALLOWLIST_CONFIG_PATH);
  if (path !== undefined && path !== DEFAULT_CONFIG_FILE)
    throw conflict(`ALLOWLIST_CONFIG_PATH (${path}) and ${chosen} are both set: remove ALLOWLIST_CONFIG_PATH, or ${chosen}`);
  return dir !== undefined
    ? { kind: 'folder', dir, from: 'ALLOWLIST_CONFIG_DIR' }
    : { kind: 'container', container: container!, storage: setting(env.ALLOWLIST_STORAGE) ?? setting(env.AzureWebJobsStorage) };
}

function setting(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function conflict(message: string): ConfigError {
  return new ConfigError([message]);
}

/**
 * Reads every config of the source. Errors of the whole set (an unreadable folder, a missing container, a folder
 * without a config) are thrown; errors of one config are its entry's, and the others are still returned.
 * A single config that does not load throws, as it always has.
 */
export async function loadConfigSet(source: ConfigSetSource, env: NodeJS.ProcessEnv = process.env): Promise<ConfigSet> {
  if (source.kind === 'single') {
    const config = await loadConfig(source.source);
    return { kind: 'single', entries: [{ name: config.name, origin: 'the config', config }], warnings: [] };
  }
  if (source.kind === 'folder') return configSetOf('folder', await readFolder(source), `${source.from} ${source.dir}`);
  const { readContainer } = await import('./config-container.js');
  return configSetOf(
    'container',
    await readContainer(source.container, { storage: source.storage, env }),
    `ALLOWLIST_CONFIG_CONTAINER ${source.container}`,
  );
}

async function readFolder(source: Extract<ConfigSetSource, { kind: 'folder' }>): Promise<ConfigDocument[]> {
  const dir = resolve(source.baseDir ?? process.cwd(), source.dir);
  let names: string[];
  try {
    const found = await readdir(dir, { withFileTypes: true });
    // Only the folder itself: a sub-folder may hold drafts or another app's files.
    names = found.filter((entry) => entry.isFile() && entry.name.toLowerCase().endsWith('.json')).map((entry) => entry.name);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : `cannot read it (${code ?? (error as Error).message})`;
    throw new ConfigError([`${source.from} ${source.dir}: ${dir}: ${reason}; give the folder that holds the *.json configs`]);
  }
  return Promise.all(
    names.sort().map(async (fileName) => {
      const origin = join(dir, fileName);
      return { fileName, origin, text: await readFile(origin, 'utf8') };
    }),
  );
}

/**
 * The configs of a folder's or container's documents. A document that is JSON but not shaped like a config (no
 * "targets" key) is skipped with a warning; one that is not JSON, or has "targets" but is invalid, is a config error
 * of its own, since it is most likely a config with a mistake. Then the rules of the set: names are unique, and no two
 * configs write the same file of the same repository and branch, or push the same branch; both break the configs
 * involved, not the others.
 */
export function configSetOf(kind: 'folder' | 'container', documents: readonly ConfigDocument[], where: string): ConfigSet {
  const warnings: string[] = [];
  const entries: ConfigEntry[] = [];
  for (const document of documents) {
    if (NEVER_CONFIGS.some((pattern) => pattern.test(document.fileName))) continue;
    if (document.unreadable === undefined && !looksLikeConfig(document.text)) {
      warnings.push(`${document.origin}: skipped, not a config (a JSON file without "targets")`);
      continue;
    }
    entries.push(parseEntry(document));
  }
  if (entries.length === 0)
    throw new ConfigError([
      `${where}: no config in it (a config is a *.json file with "targets")${warnings.length > 0 ? `; skipped: ${warnings.join('; ')}` : ''}`,
    ]);
  const checked = sharedWriteErrors(uniqueNameErrors(entries));
  return { kind, entries: checked.sort((a, b) => a.name.localeCompare(b.name) || a.origin.localeCompare(b.origin)), warnings };
}

function looksLikeConfig(text: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return true;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'targets' in value;
}

function parseEntry(document: ConfigDocument): ConfigEntry {
  const fallback = nameFromPath(document.fileName);
  if (document.unreadable !== undefined)
    return { name: fallback, origin: document.origin, error: new ConfigError([`(root): ${document.unreadable}`], document.origin) };
  try {
    const config = parseConfigText(document.text, fallback);
    return { name: config.name, origin: document.origin, config };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return {
      name: declaredName(document.text) ?? fallback,
      origin: document.origin,
      error: new ConfigError(error.problems, document.origin),
    };
  }
}

/** The "name" an invalid config gives itself, so its error is reported under the name its state has. */
function declaredName(text: string): string | undefined {
  try {
    const name = (JSON.parse(text) as { name?: unknown }).name;
    return typeof name === 'string' && name !== '' ? name : undefined;
  } catch {
    return undefined;
  }
}

/** Two configs of one name would share one state partition, branch and pull request: neither runs. */
function uniqueNameErrors(entries: readonly ConfigEntry[]): ConfigEntry[] {
  return entries.map((entry) => {
    const others = entries.filter((other) => other !== entry && other.name === entry.name);
    if (others.length === 0) return entry;
    return withProblem(
      entry,
      `name: "${entry.name}" is also the name of ${others.map((o) => o.origin).join(', ')}; config names (the "name" key, else the file name) must be unique`,
    );
  });
}

/**
 * Two configs that write one file of one repository and base branch would undo each other's pull requests, and two
 * whose branch prefix and name make one branch would push over each other's: neither runs.
 */
function sharedWriteErrors(entries: readonly ConfigEntry[]): ConfigEntry[] {
  const claims = new Map<string, { entries: ConfigEntry[]; what: (others: string) => string }>();
  const claim = (key: string, entry: ConfigEntry, what: (others: string) => string) => {
    const found = claims.get(key) ?? { entries: [], what };
    if (!found.entries.includes(entry)) found.entries.push(entry);
    claims.set(key, found);
  };
  for (const entry of entries) {
    const github = entry.config?.github;
    if (!github) continue;
    const repository = `${github.owner.toLowerCase()}/${github.repo.toLowerCase()}`;
    for (const file of entry.config.files) {
      claim(
        `file ${repository}@${github.base}:${file.path}`,
        entry,
        (others) =>
          `files: "${file.path}" of ${repository}@${github.base} is also written by ${others}; two configs must not write the same file of one repository`,
      );
    }
    const branch = `${github.branchPrefix}${entry.name}`;
    claim(
      `branch ${repository}:${branch}`,
      entry,
      (others) =>
        `github.branchPrefix: the branch "${branch}" of ${repository} is also the branch of ${others}; give one a branchPrefix of its own`,
    );
  }
  const problems = new Map<ConfigEntry, string[]>();
  for (const { entries: found, what } of claims.values()) {
    if (found.length < 2) continue;
    for (const entry of found) {
      const others = found.filter((other) => other !== entry).map((other) => `"${other.name}" (${other.origin})`);
      problems.set(entry, [...(problems.get(entry) ?? []), what(others.join(', '))]);
    }
  }
  return entries.map((entry) => (problems.has(entry) ? withProblem(entry, ...problems.get(entry)!) : entry));
}

function withProblem(entry: ConfigEntry, ...problems: string[]): ConfigEntry {
  const earlier = entry.error?.problems ?? [];
  return { name: entry.name, origin: entry.origin, error: new ConfigError([...earlier, ...problems], entry.origin) };
}

/** A config asked for by name that the set does not have: 404, naming the ones it has. */
export class UnknownConfigError extends AllowlistError {
  constructor(name: string, known: readonly string[]) {
    super('unknown-config', `No config is named ${JSON.stringify(name)}; the configs are ${known.join(', ')}`);
  }
}

/**
 * The config a request names; without a name, the only config of the set. A set of several needs the name:
 * an answer about "the" config would be about a config the caller did not choose.
 */
export function selectConfig(set: ConfigSet, name: string | undefined): ConfigEntry {
  if (name === undefined) {
    if (set.entries.length === 1) return set.entries[0]!;
    throw new AllowlistError(
      'config-required',
      `This app has ${set.entries.length} configs: name one with config=<name> (${namesOf(set)})`,
    );
  }
  const found = set.entries.filter((entry) => entry.name === name);
  if (found.length === 0)
    throw new UnknownConfigError(
      name,
      set.entries.map((entry) => entry.name),
    );
  return found[0]!;
}

/** The config of an entry, or its error thrown. */
export function configOf(entry: ConfigEntry): Config {
  if (entry.error) throw entry.error;
  return entry.config;
}

export function namesOf(set: ConfigSet): string {
  return [...new Set(set.entries.map((entry) => entry.name))].join(', ');
}
