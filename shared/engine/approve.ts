import { releasable } from '../drift/drift.js';
import { AllowlistError } from '../problem.js';
import type { Approval, ApprovalSource, HeldChange } from '../state/records.js';
import { releaseLease, runContext, selectTargets, withLease, type RunOptions } from './context.js';

export interface ApproveOptions extends Pick<RunOptions, 'config' | 'store' | 'env' | 'log' | 'now' | 'leaseTtlMs'> {
  readonly targetId: string;
  readonly source: ApprovalSource;
  /** The fingerprint the person was shown; when given, a held change that differs from it is refused. */
  readonly fingerprint?: string;
  readonly by?: string;
}

export interface ApprovalResult {
  readonly targetId: string;
  readonly held: HeldChange;
  readonly approval: Approval;
}

/**
 * Records a person's release of the change a target is held with. It is bound to that change's fingerprint: the
 * next run publishes it in the normal PR only if its check still shows exactly this change, and a different one is
 * held again until it is approved in turn. Writes state, so it takes the lease like a run does.
 */
export async function approveHeld(options: ApproveOptions): Promise<ApprovalResult> {
  const [target] = selectTargets(options.config, [options.targetId]);
  const context = await withLease(runContext(options), options.leaseTtlMs);
  try {
    const snapshot = await context.store.read(context.config.name);
    const record = snapshot.targets.get(target!.id);
    const held = record?.lastStatus === 'held' ? record.held : undefined;
    if (!record || !held) {
      throw new AllowlistError('approve-nothing-held', `${target!.id}: its last check held nothing back, so there is nothing to approve`);
    }
    if (!releasable(record.baseline, held)) {
      throw new AllowlistError(
        'approve-refused',
        `${target!.id}: the held change would allow every address (a /0); no approval releases that. Fix the source or the config instead`,
      );
    }
    if (options.fingerprint !== undefined && options.fingerprint !== held.fingerprint) {
      throw new AllowlistError(
        'approve-changed',
        `${target!.id}: the held change is now ${held.fingerprint}, not ${options.fingerprint} as shown; look at it again (status or the report) and approve that one`,
      );
    }
    const approval: Approval = {
      fingerprint: held.fingerprint,
      at: context.now().toISOString(),
      source: options.source,
      ...(options.by ? { by: options.by } : {}),
    };
    await context.store.write(context.config.name, { targets: [{ ...record, approval }] }, { lease: context.lease });
    context.log('info', `${target!.id}: held change ${held.fingerprint} approved (${options.source}); the next run proposes it`);
    return { targetId: target!.id, held, approval };
  } finally {
    await releaseLease(context);
  }
}
