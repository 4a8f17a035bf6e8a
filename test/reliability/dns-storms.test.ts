import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConfig, type Config } from '../../shared/config.js';
import { acceptObservation } from '../../shared/engine/accept.js';
import { runCheck } from '../../shared/engine/check.js';
import { aggregate, covers, parseCidr, tryParseCidr, type Cidr } from '../../shared/ipset.js';
import { StateStore } from '../../shared/state/store.js';
import { startDnsPeer, type Behaviour, type DnsPeer } from '../peers/dns.js';
import { startGitHubPeer, type GitHubPeer } from '../peers/github/index.js';
import { seededRandom } from './fuzzing.js';
import { fastPublisher } from '../support.js';

const TOKEN = 'ghp_DnsStorms0Token0123456789abcdefABCD';
const CHECKS = 20;
const REMOVE_AFTER = 3;
const FILE = 'firewall/outsystems.txt';

/** Three front-ends; fe3 moves to a new elastic IP before check 4, so a removal can legitimately become due. */
type Host = 'fe1.storm.test' | 'fe2.storm.test' | 'fe3.storm.test';
const HOSTS: Record<Host, { a: readonly string[]; aaaa?: readonly string[] }> = {
  'fe1.storm.test': { a: ['52.10.0.1'], aaaa: ['2600:1f18:10::1'] },
  'fe2.storm.test': { a: ['52.10.1.1'] },
  'fe3.storm.test': { a: ['52.10.2.1'] },
};
const MOVED: { host: Host; at: number; a: string[] } = { host: 'fe3.storm.test', at: 3, a: ['52.10.3.1'] };
/** The other answer a rotating host alternates with (a load balancer's second address). */
const ROTATE_WITH = ['52.10.9.9'];

type Weather = 'stable' | 'timeout' | 'servfail' | 'nxdomain' | 'rotate';

let dns: DnsPeer;
let github: GitHubPeer;
let store: StateStore;
let config: Config;

function currentA(host: Host, check: number): readonly string[] {
  return host === MOVED.host && check >= MOVED.at ? MOVED.a : HOSTS[host].a;
}

function behaviourOf(host: Host, weather: Weather, check: number): Behaviour {
  const a = currentA(host, check);
  const { aaaa } = HOSTS[host];
  switch (weather) {
    case 'stable':
      return { kind: 'answer', a, ...(aaaa ? { aaaa } : {}) };
    case 'timeout':
      return { kind: 'silence' };
    case 'servfail':
      return { kind: 'servfail' };
    case 'nxdomain':
      return { kind: 'nxdomain' };
    case 'rotate':
      return { kind: 'rotate', a: [a, ROTATE_WITH] };
  }
}

/**
 * The weather of the whole storm, drawn once from a fixed seed: each host is stable 70 % of the time,
 * otherwise it times out, fails, rotates, or (at most once per host) is NXDOMAIN.
 */
function forecast(seed: number): Array<Record<Host, Weather>> {
  const random = seededRandom(seed);
  const hadNxdomain = new Set<Host>();
  return Array.from({ length: CHECKS }, () => {
    const day = {} as Record<Host, Weather>;
    for (const host of Object.keys(HOSTS) as Host[]) {
      const roll = random();
      let weather: Weather =
        roll < 0.7 ? 'stable' : roll < 0.78 ? 'timeout' : roll < 0.86 ? 'servfail' : roll < 0.94 ? 'rotate' : 'nxdomain';
      if (weather === 'nxdomain' && hadNxdomain.has(host)) weather = 'stable';
      if (weather === 'nxdomain') hadNxdomain.add(host);
      day[host] = weather;
    }
    return day;
  });
}

/** A check is complete only when every host gave a definite answer (addresses or NXDOMAIN). */
function complete(day: Record<Host, Weather>): boolean {
  return Object.values(day).every((weather) => weather === 'stable' || weather === 'nxdomain');
}

function presentAddresses(day: Record<Host, Weather>, check: number): Cidr[] {
  return (Object.keys(HOSTS) as Host[]).flatMap((host) => {
    if (day[host] !== 'stable') return [];
    return [...currentA(host, check), ...(HOSTS[host].aaaa ?? [])].map((address) => parseCidr(address));
  });
}

function fileCidrs(text: string | null): Cidr[] {
  return (text ?? '').split('\n').flatMap((line) => tryParseCidr(line) ?? []);
}

beforeAll(async () => {
  dns = await startDnsPeer();
  github = await startGitHubPeer({ token: TOKEN, files: { [FILE]: '# outsystems\n' } });
  config = parseConfig({
    name: 'dns-storm',
    targets: [{ id: 'outsystems', type: 'outsystems', frontEnds: Object.keys(HOSTS) }],
    dns: { servers: [dns.server], timeoutMs: 300, tries: 1, concurrency: 8, stabilityQueries: 2 },
    policy: { removeAfterMisses: REMOVE_AFTER },
    github: { owner: github.owner, repo: github.repo, apiUrl: github.url },
    files: [{ path: FILE, format: 'plain', targets: ['outsystems'] }],
  });
  store = StateStore.fromSetting(inject('azuriteConnectionString'), { tableName: 'reliabilitydnsstorm', maxRetries: 0 });
  await store.ensureTable();
});

afterAll(async () => {
  await Promise.all([dns?.close(), github?.close()]);
});

describe('issue 6 group 1: DNS storms', () => {
  it('20 checks through timeouts, SERVFAIL, one-off NXDOMAIN and rotating answers never propose an unconfirmed removal', async () => {
    for (const host of Object.keys(HOSTS) as Host[]) dns.set(host, behaviourOf(host, 'stable', 0));
    const accepted = await acceptObservation({ config, store, env: {}, targetId: 'outsystems' });
    const baseline = accepted.baseline;
    expect(baseline).toEqual(aggregate(['52.10.0.1', '52.10.1.1', '52.10.2.1', '2600:1f18:10::1'].map((a) => parseCidr(a))));

    const days = forecast(0x5eed_2026);
    /** The oracle's count of consecutive complete checks that showed each baseline address absent. */
    const misses = new Map<Cidr, number>(baseline.map((cidr) => [cidr, 0]));
    let removalsSeen = 0;
    let previousMisses: Record<string, number> = {};

    for (const [check, day] of days.entries()) {
      for (const host of Object.keys(HOSTS) as Host[]) dns.set(host, behaviourOf(host, day[host], check));
      const report = await runCheck({
        config,
        store,
        env: { GITHUB_TOKEN: TOKEN },
        trigger: 'timer',
        dryRun: false,
        publisher: fastPublisher({ GITHUB_TOKEN: TOKEN }),
      });
      const why = `check ${check + 1}: ${JSON.stringify(day)}`;
      const target = report.targets[0]!;
      expect(report.errors, why).toEqual([]);

      const ok = complete(day);
      if (ok) {
        const present = presentAddresses(day, check);
        for (const cidr of baseline) misses.set(cidr, covers(present, cidr) ? 0 : misses.get(cidr)! + 1);
      }
      const confirmed = baseline.filter((cidr) => misses.get(cidr)! >= REMOVE_AFTER);

      // An incomplete check is partial (some hosts answered) or an error (none did); never ok.
      expect(ok ? ['ok'] : ['partial', 'error'], why).toContain(target.status);
      // The property: a removal only ever names addresses that complete checks found absent REMOVE_AFTER times in a row.
      for (const removed of target.removed) expect(covers(confirmed, removed), `${why}: ${removed} removed`).toBe(true);
      expect(target.removed, why).toEqual(ok ? aggregate(confirmed) : []);
      removalsSeen += target.removed.length;

      const snapshot = await store.read(config.name);
      const record = snapshot.targets.get('outsystems')!;
      expect(record.baseline, `${why}: baseline`).toEqual(baseline);
      // A check that could not see everything leaves the miss counters exactly as they were.
      if (!ok) expect(record.misses, `${why}: misses`).toEqual(previousMisses);
      previousMisses = record.misses;

      // What a reviewer would merge: every address not yet confirmed absent is still in the file.
      const pr = github.pullRequests().find((p) => p.state === 'open');
      if (pr) {
        const proposed = fileCidrs(github.readFile(pr.headRef, FILE));
        for (const cidr of baseline) {
          if (misses.get(cidr)! < REMOVE_AFTER) expect(covers(proposed, cidr), `${why}: ${cidr} kept in the PR`).toBe(true);
        }
        // A rotating answer is refused: its other address never becomes a proposal.
        expect(covers(proposed, parseCidr(ROTATE_WITH[0]!)), why).toBe(false);
      }
    }

    // The storm must have exercised both sides of the rule, or the assertions above proved nothing.
    expect(days.filter(complete).length).toBeGreaterThanOrEqual(REMOVE_AFTER + 1);
    expect(days.some((day) => !complete(day))).toBe(true);
    expect(days.some((day) => Object.values(day).includes('nxdomain'))).toBe(true);
    expect(removalsSeen).toBeGreaterThan(0);
    expect(github.violations).toEqual([]);
  }, 120_000);
});
