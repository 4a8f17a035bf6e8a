import { afterEach, describe, expect, it } from 'vitest';
import { formatStatus } from '../../bin/text-report.js';
import { parseConfig } from '../../shared/config.js';
import { readStatus } from '../../shared/engine/status.js';
import { parseCidr } from '../../shared/ipset.js';
import { writeAsFirstRelease } from '../state/first-release.js';
import { freshStore } from '../state/records.js';
import { startHarness, type Harness } from './harness.js';

let h: Harness | undefined;

afterEach(async () => {
  if (!h) return;
  expect(h.github.violations).toEqual([]);
  await h.close();
  h = undefined;
});

describe('status of a held target', () => {
  it('names the guards that hold it with their reasons, and keeps the time of the last good check', async () => {
    h = await startHarness();
    await h.run();
    h.github.mergePullRequest(h.github.pullRequests().length);
    await h.run();
    const good = (await h.state()).targets.get('acme-prod')!;
    expect(good.lastGoodCheckAt).toBe(good.lastCheckAt);

    h.dns.set('fe2.acme.test', { kind: 'answer', a: ['192.0.2.55'] });
    await h.run();
    const status = await readStatus(h.config, h.store);

    const acme = status.targets.find((t) => t.id === 'acme-prod')!;
    expect(acme).toMatchObject({ status: 'held', lastGoodCheckAt: good.lastCheckAt, lastErrors: [] });
    expect(acme.lastCheckAt! > good.lastCheckAt!).toBe(true);
    expect(acme.heldBy).toEqual([{ guard: 'special-range', message: expect.stringContaining('192.0.2.55/32') }]);
    const cas = status.targets.find((t) => t.id === 'cas-eu')!;
    expect(cas).toMatchObject({ status: 'ok', heldBy: [] });
    expect(cas.lastGoodCheckAt).toBe(cas.lastCheckAt);

    const text = formatStatus(status);
    expect(text).toContain(`acme-prod held by special-range: ${acme.heldBy[0]!.message}`);
    expect(text).toMatch(new RegExp(`acme-prod +held +${acme.lastCheckAt} +${good.lastCheckAt} `));
  });
});

describe('status of rows the first release wrote', () => {
  const lastCheckAt = '2025-11-07T11:00:00.000Z';
  const common = { baseline: [parseCidr('13.80.125.22')], misses: {}, firstSeen: {}, lastCheckAt, lastWarnings: [] };
  const unplaced = { code: 'cas-section-unrecognised', message: 'the CAS page lists addresses under "Partner telemetry"' };
  const observation = (status: 'ok' | 'partial', warnings: Array<{ code: string; message: string }> = []) => ({
    observedAt: lastCheckAt,
    status,
    entries: [{ cidr: parseCidr('13.80.125.22'), evidence: [] }],
    warnings,
    errors: [],
  });
  const config = parseConfig({
    name: 'prod',
    targets: [
      { id: 'cas-eu', type: 'cas-docs', url: 'https://example.com/cas.md', sections: ['portal'], dataCenters: ['EU1'] },
      { id: 'partners', type: 'static', entries: ['13.80.125.22'] },
      { id: 'held-one', type: 'static', entries: ['13.80.125.22'] },
    ],
  });

  it('reads without lastGoodCheckAt, and shows a partial check stored as "error" with no errors as partial', async () => {
    const firstRelease = {
      config: { configName: 'prod', declined: [] },
      targets: [
        // The first release stored a partial check as "error", with the observation's (empty) errors.
        {
          targetId: 'cas-eu',
          ...common,
          observation: observation('partial', [unplaced]),
          lastGood: observation('partial', [unplaced]),
          lastStatus: 'error',
          lastErrors: [],
          lastWarnings: [unplaced],
          verdicts: [],
        },
        {
          targetId: 'partners',
          ...common,
          observation: observation('ok'),
          lastGood: observation('ok'),
          lastStatus: 'ok',
          lastErrors: [],
          verdicts: [],
        },
        {
          targetId: 'held-one',
          ...common,
          observation: observation('ok'),
          lastGood: observation('ok'),
          lastStatus: 'held',
          lastErrors: [],
          verdicts: [{ guard: 'mass-removal', outcome: 'hold', message: 'would remove 3 of 4 ranges' }],
        },
      ],
    };
    const { raw, store } = await freshStore();
    await writeAsFirstRelease(raw, 'prod', firstRelease);

    const status = await readStatus(config, store);
    const byId = new Map(status.targets.map((t) => [t.id, t]));
    expect(byId.get('cas-eu')).toMatchObject({ status: 'partial', lastErrors: [], warnings: [unplaced], lastGoodCheckAt: lastCheckAt });
    expect(byId.get('partners')).toMatchObject({ status: 'ok', lastGoodCheckAt: lastCheckAt, heldBy: [] });
    // Its last usable observation is the held check itself: when it was last good is not known.
    expect(byId.get('held-one')).toMatchObject({
      status: 'held',
      lastGoodCheckAt: null,
      heldBy: [{ guard: 'mass-removal', message: 'would remove 3 of 4 ranges' }],
    });
    for (const target of status.targets) if (target.status === 'error') expect(target.lastErrors).not.toEqual([]);
  });
});
