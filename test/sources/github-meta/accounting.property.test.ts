import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tryParseCidr } from '../../../shared/ipset.js';
import { selectGitHubMeta } from '../../../shared/sources/github-meta/index.js';
import { parseEndpoints, selectM365 } from '../../../shared/sources/m365/endpoints.js';
import type { M365Target } from '../../../shared/sources/registry.js';
import type { Reading } from '../../../shared/sources/source.js';

/**
 * Issue 25's accounting promise for github-meta and m365: every entry of a selected list is either observed (as its
 * canonical CIDR, with evidence naming its list) or named in a warning that blinds its list; an empty or wholly
 * unreadable selection is an error, never an empty observation.
 */

const entry: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.ipV4(), weight: 5 },
  { arbitrary: fc.ipV6(), weight: 2 },
  { arbitrary: fc.tuple(fc.ipV4(), fc.integer({ min: 8, max: 32 })).map(([ip, bits]) => `${ip}/${bits}`), weight: 3 },
  { arbitrary: fc.tuple(fc.ipV4(), fc.integer({ min: 33, max: 99 })).map(([ip, bits]) => `${ip}/${bits}`), weight: 1 },
  { arbitrary: fc.string({ maxLength: 12 }), weight: 1 },
  { arbitrary: fc.constantFrom(null, 7, true, { ip: '1.2.3.4' }, ['1.2.3.4']), weight: 1 },
);
const lists = fc.dictionary(fc.constantFrom('hooks', 'web', 'api', 'actions', 'pages'), fc.array(entry, { maxLength: 8 }), {
  minKeys: 1,
});

/** What must become of each list: observed in full, or blinded with every bad entry named. */
function expectAccounted(reading: Reading, parts: ReadonlyArray<{ scope: Record<string, string>; items: readonly unknown[] }>): void {
  const observed = new Set(reading.entries.map((e) => e.cidr));
  const blinded = (scope: Record<string, string>) =>
    (reading.unknownScopes ?? []).some((unknown) => Object.entries(scope).every(([field, value]) => unknown[field] === value));
  const usable = parts.some((part) => part.items.some((item) => typeof item === 'string' && tryParseCidr(item)));
  if (!usable) expect(reading.status).toBe('error');
  if (reading.status === 'error') expect(reading.entries).toEqual([]);
  for (const { scope, items } of parts) {
    for (const item of items) {
      const cidr = typeof item === 'string' ? tryParseCidr(item) : undefined;
      if (cidr !== undefined) {
        if (reading.status !== 'error') expect(observed.has(cidr), `${String(item)} observed`).toBe(true);
        continue;
      }
      // An error observation blinds everything; otherwise the entry's own list is blinded.
      if (reading.status !== 'error') expect(blinded(scope), `${JSON.stringify(item)} blinds ${JSON.stringify(scope)}`).toBe(true);
      const shown = JSON.stringify(item) ?? String(item);
      expect(
        reading.warnings.some((warning) => warning.message.includes(shown.length > 80 ? shown.slice(0, 80) : shown)),
        `${shown} named`,
      ).toBe(true);
    }
  }
  if (reading.status !== 'error') expect(reading.status).toBe((reading.unknownScopes ?? []).length > 0 ? 'partial' : 'ok');
}

describe('accounting of every selected entry (issue 25)', () => {
  it('github-meta: observed or named', () => {
    fc.assert(
      fc.property(lists, (chosen) => {
        const document = { verifiable_password_authentication: false, ...chosen };
        const keys = Object.keys(chosen);
        const reading = selectGitHubMeta(document, keys, { revision: { revision: 'sha256:0' } });
        const parts = keys.map((key) => ({ scope: { key }, items: chosen[key]! }));
        // An empty list is blinded too: its key is named in a warning.
        for (const part of parts.filter((p) => p.items.length === 0)) {
          if (reading.status !== 'error') expect(reading.unknownScopes).toContainEqual({ kind: 'github-meta', key: part.scope.key });
        }
        expectAccounted(reading, parts);
      }),
      { numRuns: 300 },
    );
  });

  it('m365: observed or named, per endpoint set', () => {
    const target = { serviceAreas: '*', categories: '*', requiredOnly: false } as Pick<
      M365Target,
      'serviceAreas' | 'categories' | 'requiredOnly'
    >;
    fc.assert(
      fc.property(fc.array(fc.array(entry, { maxLength: 8 }), { minLength: 1, maxLength: 5 }), (ipLists) => {
        const sets = parseEndpoints(
          JSON.stringify(ipLists.map((ips, id) => ({ id, serviceArea: 'Common', category: 'Allow', required: true, ips }))),
        );
        const reading = selectM365(sets, target, { instance: 'Worldwide', version: '2025110700', url: 'https://x/endpoints/Worldwide' });
        // A set the generator filled only with bad entries observes nothing of itself: its entries are still named.
        expectAccounted(
          reading,
          ipLists.map((items, id) => ({ scope: { endpointSetId: String(id) }, items: JSON.parse(JSON.stringify(items)) as unknown[] })),
        );
      }),
      { numRuns: 300 },
    );
  });
});
