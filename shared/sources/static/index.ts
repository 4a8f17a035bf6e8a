import type { StaticTarget } from '../../config.js';
import { sortCidrs } from '../../ipset.js';
import type { Source } from '../source.js';
import type { StaticEvidence } from './schema.js';

const configured: StaticEvidence = { kind: 'static' };

/** Entries written in the config: always observed, so they never drift out of the files. */
export const observeStatic: Source<StaticTarget> = async (target, context) => ({
  targetId: target.id,
  type: target.type,
  observedAt: context.now().toISOString(),
  status: 'ok',
  entries: sortCidrs(target.entries).map((cidr) => ({ cidr, evidence: [configured] })),
  warnings: [],
  errors: [],
});
