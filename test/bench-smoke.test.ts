import { describe, expect, it } from 'vitest';
import { projectRoot, runBench, type BenchSizes } from '../bench/figures.js';
import { queueFigures } from '../bench/queue.js';
import { formatTable } from '../bench/table.js';
import { classify, classifyAll, parseCidr } from '../shared/ipset.js';
import { startEmbeddedAzurite } from '../shared/state/embedded-azurite.js';

/** The bench's own code with tiny sizes: every figure runs end to end against real peers; no timing is asserted. */
const TINY: BenchSizes = {
  frontEnds: 12,
  dnsDelayMs: 1,
  sequentialSample: 3,
  runs: 1,
  prefixes: 2_000,
  guardHosts: 200,
  tableTargets: 3,
  checkFrontEnds: 3,
  processes: false,
  queue: { configs: 2, workers: [1, 2], delayMs: 1 },
};

describe('bench smoke run', () => {
  it('produces every in-process figure, with the request counts the design promises', async () => {
    const rows = await runBench(TINY);
    const row = (prefix: string) => rows.find((r) => r.figure.startsWith(prefix));
    expect(rows.map((r) => r.figure.split(' ')[0])).toEqual([
      '1.',
      '1.',
      '1a.',
      '1b.',
      '2.',
      '2b.',
      '3.',
      '3a.',
      '4.',
      '4a.',
      '4b.',
      '4c.',
      '4d.',
      '4e.',
      '4f.',
      '4g.',
      '4h.',
      '4i.',
      '5.',
      '5a.',
      '5b.',
      '5c.',
      '5d.',
      '5e.',
      '9.',
      '9a.',
      '10.',
      '11.',
      '11a.',
      '12.',
      '12a.',
      '12b.',
      '12c.',
    ]);
    for (const r of rows) expect(Number.isFinite(r.ours), r.figure).toBe(true);
    // A quiet run asks only whether the base branch moved (base-differs), and is answered 304.
    expect(row('4d.')?.ours).toBe(1);
    expect(row('4i.')?.ours).toBe(1);
    expect(row('4e.')?.ours).toBe(3);
    expect(row('4f.')).toMatchObject({ ours: 2, note: '2 in all, reads and edits: the body is edited only when it changes' });
    expect(row('4h.')?.ours).toBe(1);
    expect(row('5.')?.ours).toBe(2);
    expect(row('5a.')?.ours).toBe(2);
    // Issue 13: the first-run body is a fraction of the 10.6 KB it replaced; the largest first PR fits GitHub's limit.
    expect(row('9.')?.ours).toBeLessThan(4_500);
    // The renderer keeps a body within 65,000 characters; the figure counts bytes (a "−" or "…" is three), so it may
    // pass 65,000 while the body still fits GitHub's limit of 65,536 characters.
    expect(row('9a.')?.ours).toBeLessThanOrEqual(65_536);
    // Issue 25: a quiet run against peers that honour validators downloads no body; without the cache, every one.
    expect(row('10.')?.ours).toBe(0);
    expect(row('10.')?.anchor).toBeGreaterThan(1_000_000);
    // Issue 24: one new prefix changes one numbered file of the split tag; a re-cut changes more.
    expect(row('11.')).toMatchObject({ ours: 1 });
    expect(row('11.')!.anchor).toBeGreaterThan(1);
    // Issue 24: the exact cover never allows more extra addresses than merging the closest neighbours.
    for (const figure of ['12.', '12b.']) expect(row(figure)!.ours, figure).toBeLessThanOrEqual(row(figure)!.anchor!);
    expect(formatTable(rows)).toContain('| figure');
  }, 120_000);
});

describe('bench smoke run: figure 13, configs through the run queue', () => {
  it('runs every config of both ticks in worker processes, each document fetched once, one message per config and kind', async () => {
    const azurite = await startEmbeddedAzurite();
    try {
      const rows = await queueFigures(azurite, projectRoot(), TINY.queue);
      const row = (prefix: string) => rows.find((r) => r.figure.startsWith(prefix));
      expect(rows.map((r) => r.figure.split(' ')[0])).toEqual(['13.', '13a.', '13b.', '13c.', '13d.', '13e.', '13f.', '13g.']);
      for (const r of rows) expect(Number.isFinite(r.ours), r.figure).toBe(true);
      // The cross-worker single flight: each URL fetched once in the tick, by either number of workers.
      expect(row('13c.')).toMatchObject({ ours: 1, anchor: 1 });
      // One message per config and kind; with the ticks apart, no lease is held when a message arrives.
      expect(row('13e.')).toMatchObject({ ours: 2, anchor: 2 });
      // A config's own Table requests, plus one table check by each worker that ran a message (on its first: 1 or 2
      // workers over 2 configs, as the queue hands them out): a good run writes nothing for the poisoned-message record.
      expect([row('13d.')!.anchor! + 0.5, row('13d.')!.anchor! + 1]).toContain(row('13d.')!.ours);
    } finally {
      await azurite.stop();
    }
  }, 120_000);
});

describe('classifyAll (the bulk path the guards use)', () => {
  it('agrees with classify per entry, for special and ordinary space of both families', () => {
    const cidrs = [
      '10.1.2.3',
      '8.0.0.0/5',
      '52.1.2.3',
      '255.255.255.255',
      '0.0.0.0/0',
      '192.0.2.0/25',
      '::ffff:10.0.0.1',
      '2001:db8::1',
      '2603:1000::/40',
      'fd00::/8',
      '::/0',
      '13.107.6.152/31',
    ].map(parseCidr);
    const bulk = classifyAll(cidrs);
    for (const cidr of cidrs) {
      const single = classify(cidr);
      expect(bulk.get(cidr) ?? [], cidr).toEqual(single);
    }
    expect(bulk.has(parseCidr('52.1.2.3'))).toBe(false);
    expect(bulk.get(parseCidr('0.0.0.0/0'))?.length).toBeGreaterThan(5);
  });
});
