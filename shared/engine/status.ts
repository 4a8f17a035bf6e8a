import { capacityProblem, type CapacityOutcome } from '../capacity/capacity.js';
import type { Config, TargetType } from '../config.js';
import { pendingRemovals, releasable } from '../drift/drift.js';
import type { Cidr } from '../ipset.js';
import type { Problem } from '../problem.js';
import { standingFailures } from '../queue/poisoned.js';
import type { TargetReport, Verdict } from '../report.js';
import type { Approval, HeldChange, TargetRecord } from '../state/records.js';
import { describeQueueFailure } from '../state/queue-failures.js';
import type { StateStore } from '../state/store.js';
import { capacityOfSets } from './capacity.js';

export interface TargetStatus {
  readonly id: string;
  readonly type: TargetType;
  readonly lastCheckAt: string | null;
  /** When a check last ended ok or partial; null when none has, or none is known (see lastGoodCheckAt below). */
  readonly lastGoodCheckAt: string | null;
  readonly status: TargetReport['status'] | 'never-checked';
  /** The guards that held the target at its last check, with their reasons; empty unless status is held. */
  readonly heldBy: Array<Pick<Verdict, 'guard' | 'message'>>;
  readonly baselineCount: number;
  readonly observedCount: number;
  readonly pendingRemoval: Array<{ cidr: string; misses: number }>;
  readonly lastErrors: Problem[];
  readonly warnings: Problem[];
  /**
   * While held: what the target would add and remove, the fingerprint to approve, the guards that hold it, and
   * whether an approval can release it at all (not a change that would allow every address).
   */
  readonly held?: HeldChange & { readonly verdicts: Verdict[]; readonly releasable: boolean };
  readonly approval?: Approval;
  /** The config's `exclude` for this target: never proposed, even when observed; absent when it has none. */
  readonly excluded?: Cidr[];
}

export interface StatusReport {
  readonly configName: string;
  readonly lastRunAt: string | null;
  readonly targets: TargetStatus[];
  readonly pullRequest: { number: number; url: string; state: string; fingerprint: string } | null;
  /** Per file, approved addresses the base branch lacked when a run last looked (`base-differs`); empty when none. */
  readonly baseDiffers: Array<{ path: string; missing: Cidr[] }>;
  /**
   * Per file with a limit, what the stored proposal puts into it (entries the config does not manage are counted
   * when a run reads the files): `exceeded` files are not written until they fit; a message unless it fits.
   */
  readonly capacity: CapacityStatus[];
  /**
   * Set only when a run message of this config went to the poison queue and no run of its kind completed since
   * (shared/queue/poisoned.ts): per kind, "<kind> at <tick>: <code>: <message>" (a record that cannot be read says so
   * instead).
   */
  readonly poisoned?: string[];
}

export interface CapacityStatus {
  readonly path: string;
  readonly outcome: CapacityOutcome;
  readonly entries: { readonly ipv4: number; readonly ipv6: number };
  readonly maxEntries: number;
  readonly perFamily: boolean;
  /** capacity-exceeded or capacity-headroom, as a run reports it. */
  readonly problem?: Problem;
  /** Written as covers to fit (`fit`): the addresses it allows beyond what the sources publish. */
  readonly widened?: { readonly extraAddresses: string; readonly covers: number };
}

/** The stored state of every configured target, without running a check (two queries: its partition, its poisoned messages). */
export async function readStatus(config: Config, store: StateStore): Promise<StatusReport> {
  const unreadable: string[] = [];
  const [snapshot, failures] = await Promise.all([
    store.read(config.name),
    store.queueFailures().list(config.name, (text) => unreadable.push(text)),
  ]);
  const poisoned = [...standingFailures({ failures, config, snapshot }).map(describeQueueFailure), ...unreadable];
  const pr = snapshot.config.pullRequest;
  return {
    configName: config.name,
    lastRunAt: snapshot.config.lastRunAt ?? null,
    targets: config.targets.map((target) => {
      const record = snapshot.targets.get(target.id);
      return {
        id: target.id,
        type: target.type,
        lastCheckAt: record?.lastCheckAt ?? null,
        lastGoodCheckAt: lastGoodCheckAt(record),
        status: record?.lastStatus ?? 'never-checked',
        heldBy:
          record?.lastStatus === 'held'
            ? record.verdicts.filter((v) => v.outcome === 'hold').map((v) => ({ guard: v.guard, message: v.message }))
            : [],
        baselineCount: record?.baseline?.length ?? 0,
        observedCount: record?.observation?.entries.length ?? 0,
        pendingRemoval: pendingRemovals(record?.misses ?? {}, config.policy.removeAfterMisses),
        lastErrors: record?.lastErrors ?? [],
        warnings: record?.lastWarnings ?? [],
        ...(record?.held && record.lastStatus === 'held'
          ? {
              held: {
                ...record.held,
                verdicts: record.verdicts.filter((v) => v.outcome === 'hold'),
                releasable: releasable(record.baseline, record.held),
              },
            }
          : {}),
        ...(record?.approval ? { approval: record.approval } : {}),
        ...(target.exclude && target.exclude.length > 0 ? { excluded: [...target.exclude] } : {}),
      };
    }),
    pullRequest: pr && pr.state === 'open' ? { number: pr.number, url: pr.url, state: pr.state, fingerprint: pr.fingerprint } : null,
    baseDiffers: snapshot.config.base?.differs ?? [],
    capacity: capacityStatus(config, snapshot.targets),
    ...(poisoned.length > 0 ? { poisoned } : {}),
  };
}

/** What the stored proposal (else the baseline) of every target puts into each limited file. */
function capacityStatus(config: Config, records: ReadonlyMap<string, TargetRecord>): CapacityStatus[] {
  const sets = new Map(config.targets.map((t) => [t.id, records.get(t.id)?.proposed ?? records.get(t.id)?.baseline ?? []]));
  return capacityOfSets(config, sets).map((decision) => {
    const problem = capacityProblem(decision);
    return {
      path: decision.path,
      outcome: decision.outcome,
      entries: decision.count,
      maxEntries: decision.limit.maxEntries,
      perFamily: decision.limit.perFamily,
      ...(problem ? { problem } : {}),
      ...(decision.widened ? { widened: { extraAddresses: decision.widened.extraAddresses, covers: decision.widened.covers } } : {}),
    };
  });
}

/**
 * Rows written before lastGoodCheckAt existed know it only when their last check was good; after a held or failed
 * one it is unknown (their last usable observation may be the held check itself) until the next good check.
 */
function lastGoodCheckAt(record: TargetRecord | undefined): string | null {
  if (record?.lastGoodCheckAt) return record.lastGoodCheckAt;
  return record?.lastStatus === 'ok' || record?.lastStatus === 'partial' ? (record.lastCheckAt ?? null) : null;
}
