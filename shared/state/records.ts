import type { Cidr } from '../ipset.js';
import type { Problem } from '../problem.js';
import type { Verdict } from '../report.js';
import type { ObservationStatus, ObservedEntry } from '../sources/source.js';

/**
 * What the state table holds per config and per target: the store reads and writes them, the codec turns them
 * into rows and back, and the engine decides with them.
 */

export interface StoredObservation {
  observedAt: string;
  status: ObservationStatus;
  entries: ObservedEntry[];
  warnings: Problem[];
  errors: Problem[];
  facts?: Record<string, string | number>;
}

/** An approved entry no longer observed, as it was when last observed. */
export interface MissingEntry extends ObservedEntry {
  /** When it was last observed (that observation's time); absent in rows written before this was recorded. */
  readonly seenAt?: string;
}

export interface TargetRecord {
  targetId: string;
  /** The approved set; null = never approved (the first run proposes everything). */
  baseline: Cidr[] | null;
  baselineAt?: string;
  /** The latest observation, successful or not. */
  observation?: StoredObservation;
  /** The latest observation with status ok or partial; its entries drive proposals. */
  lastGood?: StoredObservation;
  /**
   * Approved or proposed entries that `lastGood` does not hold, with the evidence they had when last observed: a
   * partial check that names what it could not read judges their absence by where they stood (shared/drift/drift.ts),
   * and a PR that removes one says where it stood and when it was last seen.
   */
  missingEvidence?: MissingEntry[];
  /** This target's part of the latest proposal, kept for runs that do not check this target. */
  proposed?: Cidr[];
  /** A removed range's CIDR -> consecutive confirmed absences. */
  misses: Record<string, number>;
  /** CIDR -> ISO time first observed. */
  firstSeen: Record<string, string>;
  lastCheckAt?: string;
  /**
   * When a check last ended ok or partial (its findings applied); held and failed checks leave it as it was.
   * Rows written before this field lack it: see readStatus for what is shown then.
   */
  lastGoodCheckAt?: string;
  lastStatus?: 'ok' | 'partial' | 'error' | 'held';
  lastErrors: Problem[];
  lastWarnings: Problem[];
  verdicts: Verdict[];
  /** What the latest check would have changed had a guard not held it; set only while the target is held. */
  held?: HeldChange;
  /** A person's release of one held change; it applies while the check still shows that exact change. */
  approval?: Approval;
  /** Set by read(); pass it back unchanged to write(). */
  etag?: string;
}

export interface HeldChange {
  /** Aggregated addresses the held observation would add to the baseline (the first HELD_SAMPLE when addedCount is set). */
  added: Cidr[];
  /** Aggregated baseline addresses it no longer shows (removed only after enough misses, even once approved). */
  removed: Cidr[];
  /** Set when `added` is a sample of a larger change: how many ranges it adds in all. Absent in rows of earlier releases. */
  addedCount?: number;
  /** Set when `removed` is a sample: how many ranges it removes in all. */
  removedCount?: number;
  /** Names this exact change, so an approval of it cannot release a later, different one. */
  fingerprint: string;
  /** When a check first showed this exact change. */
  since: string;
}

/** A held change's fingerprint as drift.ts makes it (16 hex digits of a SHA-256), for the edges that take one from a person. */
export function isFingerprint(text: string): boolean {
  return /^[0-9a-f]{16}$/.test(text);
}

export type ApprovalSource = 'cli' | 'http' | 'github';

export interface Approval {
  fingerprint: string;
  at: string;
  source: ApprovalSource;
  /** Who approved, when the source knows (a GitHub login). */
  by?: string;
}

export interface PullRequestRecord {
  number: number;
  url: string;
  branch: string;
  headSha: string;
  fingerprint: string;
  /** 'closed': a PR people declined, kept so that a later reopen or merge of it is seen. */
  state: 'open' | 'merged' | 'closed';
  proposal: Record<string, Cidr[]>;
  updatedAt: string;
  /** The head SHA at which the PR was found changed by someone else, so the notice about it is posted once. */
  blockedNotice?: string;
  /**
   * What the PR body says (pullRequestTextFingerprint): a run that finds it changed (a new warning, a hold, a miss
   * count) refreshes the body even when the files stay the same. Absent in records written before it existed.
   */
  textFingerprint?: string;
  /**
   * Set before the tool's withdrawal comment is posted, and kept until the PR is read closed: a close the state
   * records is the tool's own; any other close of this PR is a person's decline. Absent in records of earlier releases.
   */
  withdrawal?: WithdrawalRecord;
  /**
   * The login that opened the PR (the tool's identity then), so that it stays the tool's after a change of
   * credentials. Absent in records written before it existed.
   */
  author?: string;
}

/** The tool's own withdrawal of a PR, recorded before anything is said or done on GitHub. */
export interface WithdrawalRecord {
  number: number;
  /** The head the tool saw when it withdrew: the branch is deleted only if it still points there or at its own commit. */
  headSha: string;
  at: string;
}

export interface DashboardRecord {
  /** The dashboard issue, remembered so that a run finds it without a search. */
  number: number;
  /** A person closed it: it stays closed, and nothing new is opened while it is recorded. */
  state: 'open' | 'closed';
  /** Hash of the body last written, so the issue is edited only when what it says changes. */
  bodyHash?: string;
  /** The login that opened the issue (the tool's identity then). Absent in records written before it existed. */
  author?: string;
}

/** What the last look at the base branch found, so a quiet run asks GitHub only whether the branch moved. */
export interface BaseRecord {
  /** The base branch's head commit that was read, and its tree. */
  sha: string;
  tree: string;
  /** GitHub's ETag for that head, for If-None-Match; absent when the head came from a read without one. */
  etag?: string;
  /** Names the approved sets and file settings compared, so a changed baseline is compared afresh. */
  fingerprint: string;
  /** Per file, approved addresses the base branch lacks (`base-differs`); empty when it holds them all. */
  differs: Array<{ path: string; missing: Cidr[] }>;
}

export interface ConfigRecord {
  configName: string;
  /** Absent in rows written before base-differs existed: the next run reads the base branch once. */
  base?: BaseRecord;
  pullRequest?: PullRequestRecord;
  /** The drift dashboard issue; absent until one is opened (and in rows written before it existed). */
  dashboard?: DashboardRecord;
  /** Fingerprints of declined proposals, oldest first; write() keeps the 20 most recent. */
  declined: string[];
  lastRunId?: string;
  lastRunAt?: string;
  etag?: string;
}

export interface Snapshot {
  config: ConfigRecord;
  targets: Map<string, TargetRecord>;
}
