import { z } from 'zod';
import { cidr } from '../../schema-kit.js';
import { defineSource } from '../source.js';

/** An entry written in the config by a person: trusted, so the special-range guard skips it. */
export const staticEvidence = z.object({ kind: z.literal('static') });
export type StaticEvidence = Readonly<z.output<typeof staticEvidence>>;

export const staticEntries = defineSource({
  fields: {
    entries: z.array(cidr).min(1, 'list at least one address or CIDR'),
  },
  evidence: [staticEvidence],
  configured: ['static'],
  fixedEntries: (target) => (Array.isArray(target.entries) ? target.entries : []),
  schedule: 'CAS_SCHEDULE',
  // Nothing upstream: the entries are the config's own.
  doctor: {},
  describe: () => 'configured (static entry)',
  cite: () => ({ source: 'the config', place: 'static entries' }),
});
