import type { TargetType } from './config.js';
import type { Cidr } from './ipset.js';
import type { Problem } from './problem.js';
import type { Approval, HeldChange } from './state/records.js';

/** Outcome of one guard on one target; any "hold" holds the target. */
export interface Verdict {
  /** `widening` records what a file widened to fit its limit allows beyond the published addresses; it never holds. */
  readonly guard: 'empty-observation' | 'mass-removal' | 'mass-addition' | 'range-flood' | 'broad-prefix' | 'special-range' | 'widening';
  readonly outcome: 'pass' | 'hold';
  readonly message: string;
}

export interface TargetReport {
  readonly id: string;
  readonly type: TargetType;
  /**
   * ok: checked in full; partial: part of the source could not be read (the warnings say which part and why),
   * what was read is applied, what was not is kept; error: nothing usable was read (see errors); held: a guard
   * held the target back (see verdicts).
   */
  readonly status: 'ok' | 'partial' | 'error' | 'held';
  readonly observed: Cidr[];
  readonly baseline: Cidr[];
  readonly added: Cidr[];
  readonly removed: Cidr[];
  readonly pendingRemoval: Array<{ cidr: Cidr; misses: number }>;
  readonly warnings: Problem[];
  readonly errors: Problem[];
  readonly verdicts: Verdict[];
  /** Set when status is held: what the target would add and remove, and the fingerprint an approval must name. */
  readonly held?: HeldChange;
  /** Observed or approved addresses the target's `exclude` keeps out of its proposal; absent when none. */
  readonly excluded?: Cidr[];
  /** Set when a person's approval released this check's held change into the proposal. */
  readonly approval?: Approval;
  readonly observedAt?: string;
}

export type PullRequestAction = 'created' | 'updated' | 'unchanged' | 'closed' | 'none' | 'dry-run' | 'blocked' | 'declined';

export interface PullRequestReport {
  readonly action: PullRequestAction;
  readonly number?: number;
  readonly url?: string;
  /** Rendered file changes, on dry runs: unified diff per file. */
  readonly diff?: string;
  readonly message?: string;
}

/** The one JSON shape returned by the CLI (--json) and the HTTP endpoint; documented in the README. */
export interface Report {
  readonly runId: string;
  readonly configName: string;
  readonly trigger: 'timer' | 'http' | 'cli';
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly dryRun: boolean;
  readonly targets: TargetReport[];
  readonly pullRequest: PullRequestReport;
  /** Run-level problems (state store, GitHub), as opposed to per-target ones. */
  readonly errors: Problem[];
  /** Run-level warnings (entries on the base branch this config does not manage, kept as they are). */
  readonly warnings: Problem[];
}
