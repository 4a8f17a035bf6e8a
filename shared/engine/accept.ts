import { computeDrift } from '../drift.js';
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
 * observation as the baseline, without a PR. Only a complete ('ok') observation can be accepted.
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
    if (observation.status !== 'ok') {
      const why = observation.errors.map((e) => e.code).join(', ') || 'no entries';
      throw new AllowlistError(
        'accept-incomplete',
        `${target!.id}: the observation is "${observation.status}" (${why}); only a complete observation can become the baseline`,
      );
    }
    const drift = computeDrift({ target: target!, observation, record, policy: config.policy, now: now().toISOString() });
    if (drift.report.status === 'held') {
      const holds = drift.report.verdicts.filter((v) => v.outcome === 'hold').map((v) => v.message);
      throw new AllowlistError('accept-held', `${target!.id}: held by a guard (${holds.join('; ')})`);
    }
    const baseline = aggregate(observation.entries.map((e) => e.cidr));
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
