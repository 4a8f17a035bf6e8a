// Which poisoned-message records still stand. A record is not deleted when a later run of its config and kind
// succeeds (that was one Table request per message, for a row that is almost never there): status and doctor read the
// config's state anyway, and the state says whether such a run completed after the record was written.
import type { Config } from '../config.js';
import type { QueueFailure } from '../state/queue-failures.js';
import type { Snapshot } from '../state/records.js';
import { typesOnSchedule } from '../sources/registry.js';
import { RUN_KINDS } from './run-message.js';

/**
 * The failures of `config` that no completed run of their kind followed. A run stores every target it checked with
 * its lastCheckAt in one write, so a kind has run since once each of the config's targets of that kind was checked
 * after the record; a kind the config has no target of does what any run does (lease, PR, dashboard), so any
 * completed run since (lastRunAt) counts. A record whose time or kind this release cannot read stands.
 */
export function standingFailures(options: {
  readonly failures: readonly QueueFailure[];
  readonly config: Config;
  readonly snapshot: Snapshot;
}): QueueFailure[] {
  const { failures, config, snapshot } = options;
  return failures.filter((failure) => !ranSince(failure, config, snapshot));
}

function ranSince(failure: QueueFailure, config: Config, snapshot: Snapshot): boolean {
  const at = Date.parse(failure.at);
  const kind = RUN_KINDS.find((known) => known === failure.kind);
  if (Number.isNaN(at) || kind === undefined) return false;
  const after = (time: string | undefined) => time !== undefined && Date.parse(time) > at;
  const types = typesOnSchedule(kind);
  const targets = config.targets.filter((target) => types.includes(target.type));
  if (targets.length === 0) return after(snapshot.config.lastRunAt);
  return targets.every((target) => after(snapshot.targets.get(target.id)?.lastCheckAt));
}
