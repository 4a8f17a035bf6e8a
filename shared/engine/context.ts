import { randomUUID } from 'node:crypto';
import type { Config, Target, TargetType } from '../config.js';
import type { Log } from '../log.js';
import { AllowlistError, toProblem } from '../problem.js';
import type { GitHubPublisher } from '../publish/github/types.js';
import type { Report } from '../report.js';
import type { SourceContext } from '../sources/source.js';
import type { Lease, StateStore } from '../state/store.js';

export type Trigger = Report['trigger'];

/** What a caller (timer, HTTP handler, CLI, test) hands the engine. */
export interface RunOptions {
  readonly config: Config;
  readonly store: StateStore;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly trigger: Trigger;
  readonly dryRun: boolean;
  /** Limit the run to these configured target ids (validated here: an unknown id is an error). */
  readonly targetIds?: readonly string[];
  /** Limit the run to these target types (each timer watches its own kind of source). */
  readonly targetTypes?: readonly TargetType[];
  readonly log?: Log;
  readonly now?: () => Date;
  readonly runId?: string;
  /** How GitHub is reached; defaults to Octokit against config.github.apiUrl. */
  readonly publisher?: (config: Config) => Promise<GitHubPublisher>;
  readonly armCredential?: SourceContext['armCredential'];
  readonly leaseTtlMs?: number;
  /** The last complete reads of upstream documents (Blob Storage beside the state); absent, every document is downloaded. */
  readonly documents?: SourceContext['documents'];
}

/** Everything one run reads from, resolved once: the steps of a run take this instead of long parameter lists. */
export interface RunContext {
  readonly config: Config;
  readonly store: StateStore;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly runId: string;
  readonly now: () => Date;
  readonly log: Log;
  readonly armCredential?: SourceContext['armCredential'];
  readonly documents?: SourceContext['documents'];
  /** The GitHub client, created on first use (a run with nothing to publish never loads Octokit). */
  readonly github: () => Promise<GitHubPublisher>;
  /** The GitHub client if this run created it, without creating it. */
  readonly githubIfUsed: () => Promise<GitHubPublisher> | undefined;
}

/** A run that may write: it holds the config's lease from before the state is read until after it is written. */
export interface WritingRunContext extends RunContext {
  readonly lease: Lease;
}

/** Longer than any run can take (the Functions timeout is 10 minutes), so only a dead holder's lease expires. */
export const DEFAULT_LEASE_TTL_MS = 11 * 60 * 1000;

export function runContext(options: Omit<RunOptions, 'trigger' | 'dryRun'>): RunContext {
  const log = options.log ?? (() => undefined);
  let publisher: Promise<GitHubPublisher> | undefined;
  const connect = options.publisher ?? defaultPublisher(options.env, log);
  return {
    config: options.config,
    store: options.store,
    env: options.env,
    runId: options.runId ?? randomUUID(),
    now: options.now ?? (() => new Date()),
    log,
    ...(options.armCredential ? { armCredential: options.armCredential } : {}),
    ...(options.documents ? { documents: options.documents } : {}),
    github: () => (publisher ??= connect(options.config)),
    githubIfUsed: () => publisher,
  };
}

/** Takes the config's lease; the caller releases it with `releaseLease` when the run ends. */
export async function withLease(context: RunContext, ttlMs: number | undefined): Promise<WritingRunContext> {
  const lease = await context.store.acquireLease(context.config.name, context.runId, ttlMs ?? DEFAULT_LEASE_TTL_MS);
  return { ...context, lease };
}

export function holdsLease(context: RunContext): context is WritingRunContext {
  return 'lease' in context;
}

export async function releaseLease(context: WritingRunContext): Promise<void> {
  await context.lease.release().catch((error: unknown) => context.log('warn', `releasing the lease failed: ${toProblem(error).message}`));
}

/** The source settings a target is observed with. */
export function sourceContext(context: RunContext): SourceContext {
  return {
    config: context.config,
    env: context.env,
    now: context.now,
    ...(context.armCredential ? { armCredential: context.armCredential } : {}),
    ...(context.documents ? { documents: context.documents } : {}),
  };
}

export class UnknownTargetError extends AllowlistError {
  constructor(
    readonly unknown: readonly string[],
    readonly known: readonly string[],
  ) {
    super(
      'unknown-target',
      `No configured target has the id ${unknown.map((id) => JSON.stringify(id)).join(', ')}; the targets are ${known.join(', ')}`,
    );
  }
}

export function selectTargets(config: Config, ids?: readonly string[], types?: readonly TargetType[]): Target[] {
  if (ids && ids.length > 0) {
    const known = new Set(config.targets.map((t) => t.id));
    const unknown = [...new Set(ids)].filter((id) => !known.has(id));
    if (unknown.length > 0) throw new UnknownTargetError(unknown, [...known]);
  }
  const wanted = ids && ids.length > 0 ? new Set(ids) : undefined;
  return config.targets.filter((t) => (!wanted || wanted.has(t.id)) && (!types || types.includes(t.type)));
}

function defaultPublisher(env: RunOptions['env'], log: Log) {
  return async (config: Config): Promise<GitHubPublisher> => {
    const { createGitHubPublisher } = await import('../publish/github/publisher.js');
    return createGitHubPublisher({ github: config.github!, configName: config.name, env, log });
  };
}
