#!/usr/bin/env node
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, configSourceFromEnv, loadConfig, type Config, type ConfigSource } from '../shared/config.js';
import { configSetSourceFromEnv, loadConfigSet, type ConfigSet } from '../shared/config-set.js';
import { acceptObservation } from '../shared/engine/accept.js';
import { runConfigSet, runSucceeded, SET_CONCURRENCY } from '../shared/engine/check-set.js';
import { readSetStatus } from '../shared/engine/status-set.js';
import { formatSetRuns, formatSetStatus } from './set-report.js';
import { runCheck } from '../shared/engine/check.js';
import { selectTargets, UnknownTargetError, type RunOptions } from '../shared/engine/context.js';
import type { Log } from '../shared/log.js';
import { readStatus } from '../shared/engine/status.js';
import { commandAsTyped, packageVersion } from './invocation.js';
import { formatApproval, formatReport, formatStatus, formatTarget, nextStep, type CommandHint } from './text-report.js';
import { credentialsFromEnv } from '../shared/publish/github/auth.js';
import { openDocuments, openStore, storageSetting } from '../shared/state/open.js';
import { isFingerprint } from '../shared/state/records.js';
import type { EmbeddedAzurite } from '../shared/state/embedded-azurite.js';
import type { DocumentCache } from '../shared/net/document-cache.js';
import type { StateStore } from '../shared/state/store.js';

type Command = 'check' | 'status' | 'accept' | 'approve' | 'doctor';

/** Each command's own usage, printed by `help <command>` and `<command> --help`. */
const COMMAND_USAGE: Readonly<Record<Command, string>> = {
  check: `allowlist-drift check [--config <file> | --config-dir <folder>] [--target <id> ...] [--dry-run] [--json]
  Checks every target (or the --target ones) against the stored baseline and opens or updates the pull request.
  --dry-run stores nothing and publishes nothing: it shows what a full check would do, with a diff of the rule files.
  --config-dir checks every config (*.json) of the folder, ${SET_CONCURRENCY} at a time, one report each (--json: one document
  {"configs": [...]}); exit status the worst of them. --target needs one config.
  Exit status: 0 every selected target was checked in full; 1 a target errored, was held or was checked only in part.`,
  status: `allowlist-drift status [--config <file> | --config-dir <folder>] [--json]
  Shows what is stored for each target (last checks, baseline, pending removals, held changes) without checking;
  with --config-dir, one line per config of the folder.`,
  accept: `allowlist-drift accept --target <id> [--config <file>] [--json]
  Checks one target and stores what it observed as its approved baseline, without a pull request (exit 1 if incomplete).`,
  approve: `allowlist-drift approve --target <id> [--fingerprint <held fingerprint>] [--config <file>] [--json]
  Releases the change a target is held with; the next check proposes it. The fingerprint is the 16 hexadecimal digits
  the report shows under "held"; given, a held change that differs from it is refused.`,
  doctor: `allowlist-drift doctor [--config <file>] [--json]
  Checks the set-up (config, storage, GitHub and its permissions, the upstream documents, the resolvers).
  Exit status: 0 every check passed; 1 a check failed (each failed line says how to fix it).`,
};

const COMMANDS = Object.keys(COMMAND_USAGE) as Command[];

const USAGE = `Usage:
${COMMANDS.map((command) => `  ${COMMAND_USAGE[command].split('\n')[0]}`).join('\n')}
  allowlist-drift help [<command>]
  allowlist-drift --version

Exit status: 0 every selected target was checked in full; 1 a target errored, was held or was checked only in part; 2 usage or config error.
doctor: 0 every set-up check passed; 1 a check failed (each failed line says how to fix it).
Without ALLOWLIST_STORAGE or AzureWebJobsStorage, state is kept in an embedded store under ./.allowlist-drift/.
\`allowlist-drift help <command>\` or \`allowlist-drift <command> --help\` describes one command.`;

class UsageError extends Error {}

interface Options {
  readonly command: Command;
  readonly config?: string;
  readonly configDir?: string;
  readonly targets: string[];
  readonly dryRun: boolean;
  readonly json: boolean;
  readonly fingerprint?: string;
}

/** What the command line asks for: a command to run, or text to print and exit 0 (help, version). */
type Request = { readonly kind: 'run'; readonly options: Options } | { readonly kind: 'print'; readonly text: string };

function isCommand(word: string | undefined): word is Command {
  return word !== undefined && (COMMANDS as readonly string[]).includes(word);
}

function commandUsage(command: Command): string {
  return `Usage: ${COMMAND_USAGE[command]}\n`;
}

function parseCommandLine(argv: string[]): Request {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        'config-dir': { type: 'string' },
        target: { type: 'string', short: 't', multiple: true },
        'dry-run': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        fingerprint: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    // node:util goes on after "Unknown option '--x'" with advice about '--' that ends in an unbalanced quote.
    const message = (error as Error).message;
    throw new UsageError(/^Unknown option '[^']*'/.exec(message)?.[0] ?? message);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.version) return { kind: 'print', text: `${packageVersion()}\n` };
  if (command === 'help') {
    if (rest.length === 0) return { kind: 'print', text: `${USAGE}\n` };
    if (rest.length === 1 && isCommand(rest[0])) return { kind: 'print', text: commandUsage(rest[0]) };
    throw new UsageError(`help takes one command name: ${COMMANDS.join(', ')}`);
  }
  if (values.help) return { kind: 'print', text: isCommand(command) ? commandUsage(command) : `${USAGE}\n` };
  if (!isCommand(command)) throw new UsageError(command ? `unknown command "${command}"` : 'a command is required');
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const targets = values.target ?? [];
  if ((command === 'accept' || command === 'approve') && targets.length !== 1)
    throw new UsageError(`${command} needs exactly one --target <id>`);
  if (values.fingerprint !== undefined && command !== 'approve') throw new UsageError('--fingerprint belongs to approve');
  if (values.fingerprint !== undefined && !isFingerprint(values.fingerprint))
    throw new UsageError(
      `--fingerprint "${values.fingerprint.slice(0, 40)}" is not a fingerprint: give the 16 hexadecimal digits shown after --fingerprint in the report or \`status\``,
    );
  if (values['config-dir'] !== undefined) {
    if (command !== 'check' && command !== 'status')
      throw new UsageError(`--config-dir belongs to check and status; ${command} acts on one --config <file>`);
    if (values.config !== undefined)
      throw new UsageError('--config and --config-dir exclude each other: give one config file or one folder of them');
    if (targets.length > 0) throw new UsageError('--target names a target of one config: use --config <file> with it, not --config-dir');
  }
  if (command === 'status' && (targets.length > 0 || values['dry-run']))
    throw new UsageError('status takes only --config (or --config-dir) and --json');
  if (command === 'doctor' && (targets.length > 0 || values['dry-run'])) throw new UsageError('doctor takes only --config and --json');
  return {
    kind: 'run',
    options: {
      command,
      ...(values.config ? { config: values.config } : {}),
      ...(values['config-dir'] !== undefined ? { configDir: values['config-dir'] } : {}),
      targets,
      dryRun: values['dry-run'] ?? false,
      json: values.json ?? false,
      ...(values.fingerprint !== undefined ? { fingerprint: values.fingerprint } : {}),
    },
  };
}

/** The same reading of the settings the publisher makes, done before any work so a bad setup fails fast. */
function credentialsProblem(env: NodeJS.ProcessEnv): string | undefined {
  try {
    credentialsFromEnv(env);
    return undefined;
  } catch (error) {
    return `${(error as Error).message} Use --dry-run to check without publishing.`;
  }
}

/** Where the CLI keeps its own store when no storage is set. */
function embeddedStoreLocation(): string {
  return resolve('.allowlist-drift');
}

/** The CLI's own store: Azurite in this process, its files under `location`; loaded only when it is used. */
async function startEmbeddedStore(location: string): Promise<EmbeddedAzurite> {
  const { startEmbeddedAzurite } = await import('../shared/state/embedded-azurite.js');
  return startEmbeddedAzurite({ location });
}

/** The state store and, in the same storage, the document cache (blobs; the embedded Azurite serves both). */
async function openStateStore(
  env: NodeJS.ProcessEnv,
): Promise<{ store: StateStore; documents: DocumentCache; close: () => Promise<void> }> {
  const setting = storageSetting(env);
  if (setting) return { store: await openStore(setting, env), documents: await openDocuments(setting, env), close: async () => undefined };
  const location = embeddedStoreLocation();
  process.stderr.write(`No ALLOWLIST_STORAGE or AzureWebJobsStorage set: using the embedded store in ${location}\n`);
  const azurite = await startEmbeddedStore(location);
  try {
    const documents = await openDocuments(azurite.connectionString, env);
    return { store: await openStore(azurite.connectionString, env), documents, close: () => azurite.stop() };
  } catch (error) {
    await azurite.stop();
    throw error;
  }
}

/**
 * check and status over a folder or container of configs: every config runs (a few at once) and reports on its own;
 * the exit status is the worst of them: 2 when a config is invalid, 1 when one did not check in full.
 */
async function configSetCommand(options: Options, set: ConfigSet, context: { env: NodeJS.ProcessEnv; hint: CommandHint }): Promise<number> {
  const { env, hint } = context;
  const publishing = options.command === 'check' && !options.dryRun && set.entries.some((entry) => entry.config?.github);
  const missing = publishing ? credentialsProblem(env) : undefined;
  if (missing) {
    process.stderr.write(`allowlist-drift: ${missing}\n`);
    return 2;
  }
  const { store, documents, close } = await openStateStore(env);
  try {
    if (options.command === 'status') {
      const status = await readSetStatus(set, store);
      await write(options.json ? `${JSON.stringify(status, null, 2)}\n` : formatSetStatus(status));
      return status.configs.some((c) => c.error?.code === 'config-invalid') ? 2 : 0;
    }
    if (watched(options)) process.stderr.write(`Checking ${set.entries.length} config(s), ${SET_CONCURRENCY} at a time…\n`);
    const runs = await runConfigSet({
      set,
      run: (config) => runCheck(checkOptions({ config, store, documents, env, options, logPrefix: `${config.name}: ` })),
    });
    await write(
      options.json ? `${JSON.stringify({ configs: runs, warnings: set.warnings }, null, 2)}\n` : formatSetRuns(runs, set.warnings, hint),
    );
    if (runs.some((run) => run.error?.code === 'config-invalid')) return 2;
    return runs.every(runSucceeded) ? 0 : 1;
  } finally {
    await close();
  }
}

/** Whether a person watches the run: stderr is a terminal and stdout is not a JSON document for a program. */
function watched(options: Options): boolean {
  return process.stderr.isTTY && !options.json;
}

/**
 * The engine's log on stderr: warnings and errors always, progress lines only when a person watches, debug chatter
 * never. `prefix` names the config of a folder each line is about.
 */
function cliLog(watching: boolean, prefix = ''): Log {
  return (level, message) => {
    if (level === 'warn' || level === 'error' || (level === 'info' && watching)) process.stderr.write(`[${level}] ${prefix}${message}\n`);
  };
}

/** What `check` asks of the engine for one config, alone or of a folder (whose lines name their config). */
function checkOptions(args: {
  readonly config: Config;
  readonly store: StateStore;
  readonly documents: DocumentCache;
  readonly env: NodeJS.ProcessEnv;
  readonly options: Options;
  readonly logPrefix?: string;
}): RunOptions {
  const { config, store, documents, env, options } = args;
  return {
    config,
    store,
    documents,
    env,
    trigger: 'cli',
    dryRun: options.dryRun,
    targetIds: options.targets,
    log: cliLog(watched(options), args.logPrefix),
  };
}

/** The precedence is configSourceFromEnv's: an explicit --config first. */
function configSource(options: Options, env: NodeJS.ProcessEnv): ConfigSource {
  return configSourceFromEnv(env, options.config);
}

/** Writes and waits for the stream to drain, so a megabyte report through a pipe arrives whole. */
function write(text: string): Promise<void> {
  return new Promise((resolveWrite, reject) => {
    process.stdout.write(text, (error) => (error ? reject(error) : resolveWrite()));
  });
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let request: Request;
  try {
    request = parseCommandLine(argv);
  } catch (error) {
    process.stderr.write(`allowlist-drift: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (request.kind === 'print') {
    await write(request.text);
    return 0;
  }
  const { options } = request;
  const hint: CommandHint = { command: commandAsTyped(process.argv[1], env, process.cwd()), configArgument: options.config };

  if (options.command === 'doctor') return doctor(options, env);

  let config: Config;
  try {
    const source = configSetSourceFromEnv(env, options);
    if (source.kind !== 'single') {
      if (options.command !== 'check' && options.command !== 'status')
        throw new ConfigError([
          `${options.command} acts on one config: give --config <file> (the configs come from ${source.kind === 'folder' ? 'ALLOWLIST_CONFIG_DIR' : 'ALLOWLIST_CONFIG_CONTAINER'})`,
        ]);
      if (options.targets.length > 0) throw new ConfigError(['--target names a target of one config: give --config <file> with it']);
      return await configSetCommand(options, await loadConfigSet(source, env), { env, hint });
    }
    config = await loadConfig(source.source);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  // A mistyped id is answered with the valid ones before the store starts or anything is fetched.
  try {
    selectTargets(config, options.targets);
  } catch (error) {
    if (error instanceof UnknownTargetError) {
      process.stderr.write(`allowlist-drift: ${error.code}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (options.command === 'check' && !options.dryRun && config.github) {
    const missing = credentialsProblem(env);
    if (missing) {
      process.stderr.write(`allowlist-drift: ${missing}\n`);
      return 2;
    }
  }

  const { store, documents, close } = await openStateStore(env);
  try {
    const log = cliLog(watched(options));
    switch (options.command) {
      case 'status': {
        const status = await readStatus(config, store);
        await write(options.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status, hint));
        return 0;
      }
      case 'accept': {
        const report = await acceptObservation({ config, store, env, targetId: options.targets[0]!, log });
        await write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatTarget(report, hint));
        return 0;
      }
      case 'approve': {
        const { approveHeld } = await import('../shared/engine/approve.js');
        const result = await approveHeld({
          config,
          store,
          env,
          targetId: options.targets[0]!,
          source: 'cli',
          ...(options.fingerprint !== undefined ? { fingerprint: options.fingerprint } : {}),
          log,
        });
        await write(options.json ? `${JSON.stringify(result, null, 2)}\n` : formatApproval(result));
        return 0;
      }
      case 'check': {
        if (watched(options)) process.stderr.write(`Checking ${options.targets.length || config.targets.length} target(s)…\n`);
        const report = await runCheck(checkOptions({ config, store, documents, env, options }));
        if (options.json) await write(`${JSON.stringify(report, null, 2)}\n`);
        else {
          const next = nextStep(report, { ...hint, config, credentials: credentialsProblem(env) === undefined });
          await write(`${formatReport(report, hint)}\n${next}\n`);
        }
        const failed = report.errors.length > 0 || report.targets.some((t) => t.status !== 'ok');
        return failed ? 1 : 0;
      }
    }
  } finally {
    await close();
  }
}

/**
 * Checks the set-up the way a run would use it: the config, the store the CLI would open (the embedded one when no
 * storage is set), GitHub, the upstreams and the resolvers. A config that does not load is a failed check, not exit 2.
 */
async function doctor(options: Options, env: NodeJS.ProcessEnv): Promise<number> {
  const { runDoctorFromEnv } = await import('../shared/doctor/probes.js');
  const { formatDoctor } = await import('../shared/doctor/format.js');
  let storage = storageSetting(env);
  let storageNote: string | undefined;
  let stop: () => Promise<void> = async () => {};
  if (!storage) {
    const location = embeddedStoreLocation();
    try {
      const azurite = await startEmbeddedStore(location);
      storage = azurite.connectionString;
      storageNote = `the CLI's embedded store in ${location}, as no ALLOWLIST_STORAGE or AzureWebJobsStorage is set`;
      stop = () => azurite.stop();
    } catch (error) {
      process.stderr.write(`allowlist-drift: the embedded store could not start (${(error as Error).message}); set ALLOWLIST_STORAGE\n`);
    }
  }
  try {
    const report = await runDoctorFromEnv(env, {
      // Without --config, the settings decide (one config, or a folder or container of them: doctor needs --config then).
      ...(options.config ? { config: configSource(options, env) } : {}),
      cli: true,
      ...(storage ? { storage } : {}),
      ...(storageNote ? { storageNote } : {}),
    });
    await write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctor(report));
    return report.ok ? 0 : 1;
  } finally {
    await stop();
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const code = (error as { code?: unknown }).code;
    process.stderr.write(`allowlist-drift: ${typeof code === 'string' ? `${code}: ` : ''}${(error as Error).message ?? String(error)}\n`);
    process.exitCode = code === 'unknown-target' ? 2 : 1;
  },
);
