import type { StaticTarget } from '../../config.js';
import { sortCidrs } from '../../ipset.js';
import { observing, type Source } from '../source.js';
import type { StaticEvidence } from './schema.js';

const configured: StaticEvidence = { kind: 'static' };

/** Entries written in the config: always observed, so they never drift out of the files. */
export const observeStatic: Source<StaticTarget> = observing(async (target) => ({
  status: 'ok',
  entries: sortCidrs(target.entries).map((cidr) => ({ cidr, evidence: [configured] })),
  warnings: [],
  errors: [],
}));
