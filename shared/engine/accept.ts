import { computeDrift, entriesInUnknownScopes } from '../drift/drift.js';
import { aggregate } from '../ipset.js';
import { AllowlistError } from '../problem.js';
import type { TargetReport } from '../report.js';
import { observeTarget } from '../sources/index.js';
import { releaseLease, runContext, selectTargets, sourceContext, withLease, type RunOptions } from './context.js';

export interface AcceptOptions extends Pick<RunOptions, 'config' | 'store' | 'env' | 'log' | 'now' | 'armCredential' | 'leaseTtlMs'> {
  readonly targetId: string;
}

/**
 * The explicit bootstrap: a team whose files already hold the right addresses accepts the current
 * observation as the baseline, without a PR. A complete ('ok') observation becomes the baseline as it is. A partial
 * one that names the parts it could not read (`unknownScopes`, e.g. one CAS table cell with a typo) becomes the
 * baseline with the approved entries of those parts kept, since their absence proves nothing. A partial one that
 * cannot say what it missed, and a failed one, are refused: accepting them could drop approved entries unseen.
 */
export async function acceptObservation(options: AcceptOptions): Promise<TargetReport> {
  const [target] = selectTargets(options.config, [options.targetId]);
  const context = await withLease(runContext(options), options.leaseTtlMs);
  const { config, now } = context;
  try {
    const snapshot = await context.store.read(config.name);
    const record = snapshot.targets.get(target!.id);
    const facts = record?.lastGood?.facts;
    const observation = await observeTarget(target!, { ...sourceContext(context), ...(facts ? { previousFacts: facts } : {}) });
    if (observation.status === 'error' || (observation.status === 'partial' && observation.unknownScopes === undefined)) {
      const why = [...observation.errors, ...observation.warnings].map((e) => e.code).join(', ') || 'no entries';
      const what =
        observation.status === 'partial'
          ? 'it could not tell which part of the source it missed, so accepting it could drop approved entries'
          : 'nothing usable was read';
      throw new AllowlistError(
        'accept-incomplete',
        `${target!.id}: the observation is "${observation.status}" (${why}): ${what}; only a complete observation, or a partial one that names what it could not read, can become the baseline`,
      );
    }
    const drift = computeDrift({ target: target!, observation, record, policy: config.policy, now: now().toISOString() });
    if (drift.report.status === 'held') {
      const holds = drift.report.verdicts.filter((v) => v.outcome === 'hold').map((v) => v.message);
      throw new AllowlistError('accept-held', `${target!.id}: held by a guard (${holds.join('; ')})`);
    }
    // After a complete observation nothing is kept; after a scoped partial one, the approved entries it could not judge.
    const kept = entriesInUnknownScopes(record, observation);
    const baseline = aggregate([...observation.entries.map((e) => e.cidr), ...kept]);
    await context.store.write(
      config.name,
      { targets: [{ ...drift.nextRecord, baseline, baselineAt: now().toISOString(), misses: {}, proposed: baseline }] },
      { lease: context.lease },
    );
    return { ...drift.report, baseline, added: [], removed: [], pendingRemoval: [] };
  } finally {
    await releaseLease(context);
  }
}
