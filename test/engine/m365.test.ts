import { afterEach, describe, expect, it } from 'vitest';
import { sharedFile } from '../peers/http.js';
import { MemoryDocuments } from '../sources/memory-documents.js';
import { BRANCH, startHarness, type Harness } from './harness.js';

/**
 * Issue 25: an m365 target through the whole engine against the HTTP peer serving samples written from Microsoft's
 * published schema: baseline, a change, a removal only after the configured misses, a stale version or broken
 * document that changes nothing, and Microsoft's hourly version gate kept across runs through stored facts and the
 * document cache.
 */

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const FILE = 'firewall/m365.txt';
const ENDPOINTS = sharedFile('fixtures/m365/endpoints_Worldwide_sample.json').toString('utf8');
const HOUR = 3_600_000;
const lines = (text: string | null) => (text ?? '').split('\n').filter((line) => line !== '' && !line.startsWith('#'));

interface M365Run {
  harness: Harness;
  documents: MemoryDocuments;
  serve(version: string, endpoints?: string): void;
  /** A run at the scenario's clock, `hours` after the previous one. */
  run(hours: number): ReturnType<Harness['run']>;
  /** The web service requests since the last call, by path, with their ClientRequestId. */
  asked(): Array<[string, string | null]>;
}

async function m365Harness(): Promise<M365Run> {
  const harness = await startHarness({
    config: (defaults, { http }) => ({
      ...defaults,
      // Endpoint set 56 (Common, Allow, required): sixteen prefixes, /18 to /48.
      targets: [{ id: 'm365', type: 'm365', url: http.url, serviceAreas: ['Common'], categories: ['Allow'], requiredOnly: true }],
      files: [{ path: FILE, format: 'plain', targets: ['m365'] }],
      policy: { removeAfterMisses: 3 },
    }),
  });
  const documents = new MemoryDocuments();
  let clock = Date.now();
  let seen = 0;
  return {
    harness,
    documents,
    serve(version, endpoints = ENDPOINTS) {
      harness.serve('/version/Worldwide', JSON.stringify({ instance: 'Worldwide', latest: version }), 'application/json');
      harness.serve('/endpoints/Worldwide', endpoints, 'application/json');
    },
    run(hours) {
      clock += hours * HOUR;
      const at = new Date(clock);
      return harness.run({ documents, now: () => at });
    },
    asked() {
      const asked = harness.http.requests.slice(seen).map((request) => {
        const url = new URL(request.path, 'http://x');
        return [url.pathname, url.searchParams.get('ClientRequestId')] as [string, string | null];
      });
      seen = harness.http.requests.length;
      return asked;
    },
  };
}

describe('engine: an m365 target (issue 25)', () => {
  it('asks the version at most hourly, the endpoints only on a new version, with one ClientRequestId kept in state', async () => {
    const m = await m365Harness();
    h = m.harness;
    m.serve('2025110700');
    const first = await m.run(0);
    expect(first.report.targets[0]).toMatchObject({ status: 'ok', errors: [], warnings: [] });
    expect(lines(h.github.readFile(BRANCH, FILE))).toHaveLength(16);
    const body = h.github.pullRequest(1).body ?? '';
    expect(body).toMatch(/\[Microsoft 365 endpoints\]\(http:\/\/127\.0\.0\.1:\d+\/endpoints\/Worldwide\) Worldwide version 2025110700/);
    expect(body).toContain('endpoint set 56, Common, Allow');
    const asked = m.asked();
    expect(asked.map(([path]) => path)).toEqual(['/version/Worldwide', '/endpoints/Worldwide']);
    const id = asked[0]![1]!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await h.state()).targets.get('m365')!.lastGood!.facts).toMatchObject({ clientRequestId: id, version: '2025110700' });

    h.github.mergePullRequest(1);
    // Within the hour: the service is not asked at all.
    const second = await m.run(0.5);
    expect(m.asked()).toEqual([]);
    expect(second.report.targets[0]).toMatchObject({ status: 'ok', added: [], removed: [] });
    expect((await h.state()).targets.get('m365')!.baseline).toHaveLength(16);

    // An hour on, the version is unchanged: only the version is asked.
    await m.run(1);
    expect(m.asked()).toEqual([['/version/Worldwide', id]]);

    // A new version adds a prefix: the endpoints are fetched, the same ClientRequestId throughout.
    m.serve('2025112800', ENDPOINTS.replace('"40.126.0.0/18",', '"40.126.0.0/18","40.126.64.0/18",'));
    await m.run(0.5);
    expect(m.asked()).toEqual([]);
    const changed = await m.run(1);
    expect(m.asked()).toEqual([
      ['/version/Worldwide', id],
      ['/endpoints/Worldwide', id],
    ]);
    expect(changed.report.targets[0]).toMatchObject({ status: 'ok', added: ['40.126.64.0/18'] });
    expect(changed.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect([...m.documents.documents.keys()]).toEqual([`${h.http.url}/endpoints/Worldwide`]);
  });

  it('removes a prefix only after three complete checks without it; a stale version or broken document changes nothing', async () => {
    const m = await m365Harness();
    h = m.harness;
    m.serve('2025110700');
    await m.run(0);
    h.github.mergePullRequest(1);
    await m.run(2);
    const approved = (await h.state()).targets.get('m365')!.baseline!;
    expect(approved).toHaveLength(16);

    // A stale version (older than the one read) and then a broken document: errors, nothing missed or removed.
    m.serve('2025100100');
    const stale = await m.run(2);
    expect(stale.report.targets[0]).toMatchObject({ status: 'error', pendingRemoval: [], removed: [] });
    expect(stale.report.targets[0]!.errors.map((problem) => problem.code)).toEqual(['m365-stale']);
    m.serve('2025112800', '{"error":"Service unavailable"}');
    const broken = await m.run(2);
    expect(broken.report.targets[0]!.errors.map((problem) => problem.code)).toEqual(['m365-shape']);
    expect((await h.state()).targets.get('m365')!.baseline).toEqual(approved);

    m.serve('2025112800', ENDPOINTS.replace('"40.126.0.0/18",', ''));
    for (const check of [1, 2, 3]) {
      const { report } = await m.run(2);
      const [target] = report.targets;
      expect(target!.status).toBe('ok');
      if (check < 3) expect(target!.pendingRemoval).toEqual([{ cidr: '40.126.0.0/18', misses: check }]);
      else expect(target!.removed).toEqual(['40.126.0.0/18']);
    }
    expect(lines(h.github.readFile(BRANCH, FILE))).not.toContain('40.126.0.0/18');
    expect(h.github.pullRequests()).toHaveLength(2);
  });
});
