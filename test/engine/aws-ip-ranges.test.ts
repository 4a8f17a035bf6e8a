import { afterEach, describe, expect, it } from 'vitest';
import { aggregate, parseCidr, semanticDiff } from '../../shared/ipset.js';
import { sharedFile } from '../peers/http.js';
import { BRANCH, startHarness, type Harness } from './harness.js';
import { lines } from './held-tags.js';

/**
 * Issue 25's done-when for the aws-ip-ranges type, against Azurite, the HTTP peer serving the two real captures and
 * the OpenAPI-checked GitHub peer, under the default policy (removal after 3 misses).
 */

const AWS_PATH = '/ip-ranges.json';
const FILE = 'firewall/aws.txt';
const OLD = sharedFile('fixtures/aws/ip-ranges_2021-01-13.json');
const NEW = sharedFile('fixtures/aws/ip-ranges_2026-08-22.json');

interface RawDocument {
  prefixes: Array<{ ip_prefix: string; service: string; region: string }>;
  ipv6_prefixes: Array<{ ipv6_prefix: string; service: string; region: string }>;
}

/** The oracle: the file's prefixes with a plain filter, aggregated as a rule file holds them. */
function addresses(file: Buffer, keep: (entry: { service: string; region: string }) => boolean = () => true): string[] {
  const document = JSON.parse(file.toString('utf8')) as RawDocument;
  const texts = [
    ...document.prefixes.filter(keep).map((entry) => entry.ip_prefix),
    ...document.ipv6_prefixes.filter(keep).map((entry) => entry.ipv6_prefix),
  ];
  return aggregate(texts.map(parseCidr));
}

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

async function start(selection: { services: '*' | string[]; regions: '*' | string[] }): Promise<void> {
  h = await startHarness({
    config: (defaults, { http }) => ({
      ...defaults,
      // Two documents of 0.7 and 2.6 MB: room to serve them on a busy machine.
      http: { timeoutMs: 60_000 },
      targets: [{ id: 'aws', type: 'aws-ip-ranges', url: `${http.url}${AWS_PATH}`, ...selection }],
      files: [{ path: FILE, format: 'plain', targets: ['aws'] }],
    }),
  });
}

const serve = (file: Buffer) => h.serve(AWS_PATH, file, 'application/json');
const target = (report: { targets: readonly { id: string }[] }) =>
  report.targets.find((t) => t.id === 'aws') as never as {
    status: string;
    added: string[];
    removed: string[];
    verdicts: Array<{ guard: string; outcome: string; message: string }>;
    errors: Array<{ code: string; message: string }>;
  };

describe('engine: AWS ip-ranges.json, every service and region', () => {
  it('opens a first PR of thousands of prefixes within GitHub’s limit, then proposes exactly the 2021 → 2026 difference and refuses the stale file', async () => {
    await start({ services: '*', regions: '*' });
    const before = addresses(OLD);
    const after = addresses(NEW);
    expect(before.length).toBeGreaterThan(1_000);

    // The first PR: every prefix of the 2021 file, reviewed whole.
    serve(OLD);
    const first = await h.run();
    expect(target(first.report).status).toBe('ok');
    expect(first.report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    expect(lines(h.github.readFile(BRANCH, FILE))).toEqual(before);
    const body = h.github.pullRequest(1).body ?? '';
    expect(body.length).toBeLessThanOrEqual(65_536);
    // It says what it folded, and that the file holds everything.
    expect(body).toMatch(/… and \d+ more, left out to fit GitHub’s size limit; the files in this PR hold all of them/);
    expect(body).toContain('AWS ip-ranges.json');
    expect(body).toContain('syncToken 1610525658');
    h.github.mergePullRequest(1);
    await h.run();
    expect((await h.state()).targets.get('aws')!.baseline).toEqual(before);

    // The 2026 file: the additions at once, under the default policy, with no guard holding them.
    serve(NEW);
    const step = await h.run();
    const aws = target(step.report);
    expect(aws.status).toBe('ok');
    expect(aws.verdicts.filter((v) => v.outcome === 'hold')).toEqual([]);
    expect(aws.verdicts.find((v) => v.guard === 'broad-prefix')!.message).toContain('except /11 (IPv4) for aws-ip-range entries');
    const diff = semanticDiff(before.map(parseCidr), after.map(parseCidr));
    expect(diff.added.length).toBeGreaterThan(1_000);
    expect(diff.removed.length).toBeGreaterThan(10);
    expect(aws.added).toEqual(diff.added);
    expect(aws.removed).toEqual([]);
    expect(step.report.pullRequest).toMatchObject({ action: 'created', number: 2 });

    // Removals only after the configured misses: two more complete reads of the same file.
    const second = await h.run();
    expect(target(second.report).removed).toEqual([]);
    const third = await h.run();
    expect(target(third.report).removed).toEqual(diff.removed);
    expect(lines(h.github.readFile(BRANCH, FILE))).toEqual(after);
    const proposed = (await h.state()).targets.get('aws')!.proposed;
    expect(proposed).toEqual(after);

    // The older file served again (a stale cache): an error that says so; nothing applied, nothing removed.
    serve(OLD);
    const stale = await h.run();
    const refused = target(stale.report);
    expect(refused.status).toBe('error');
    expect(refused.errors).toEqual([
      expect.objectContaining({ code: 'aws-ip-ranges-stale', message: expect.stringContaining('older than syncToken 1787411825') }),
    ]);
    expect(refused.added).toEqual([]);
    expect(refused.removed).toEqual([]);
    expect(lines(h.github.readFile(BRANCH, FILE))).toEqual(after);
    const record = (await h.state()).targets.get('aws')!;
    expect(record.proposed).toEqual(after);
    expect(record.lastGood!.facts).toEqual({ syncToken: 1787411825 });
  }, 600_000);
});

describe('engine: AWS ip-ranges.json, EC2 in eu-west-1', () => {
  it('proposes exactly that part of each file', async () => {
    await start({ services: ['EC2'], regions: ['eu-west-1'] });
    const ec2 = (entry: { service: string; region: string }) => entry.service === 'EC2' && entry.region === 'eu-west-1';
    serve(OLD);
    await h.run();
    expect(lines(h.github.readFile(BRANCH, FILE))).toEqual(addresses(OLD, ec2));
    h.github.mergePullRequest(1);
    await h.run();

    serve(NEW);
    const step = await h.run();
    const diff = semanticDiff(addresses(OLD, ec2).map(parseCidr), addresses(NEW, ec2).map(parseCidr));
    expect(target(step.report)).toMatchObject({ status: 'ok', added: diff.added, removed: [] });
    await h.run();
    await h.run();
    expect(lines(h.github.readFile(BRANCH, FILE))).toEqual(addresses(NEW, ec2));
  }, 300_000);

  it('keeps a selected region the file lacks as it was (partial), with the closest names', async () => {
    await start({ services: ['EC2'], regions: ['eu-west-1', 'eu-west-2'] });
    serve(NEW);
    await h.run();
    h.github.mergePullRequest(1);
    await h.run();
    const approved = (await h.state()).targets.get('aws')!.baseline!;

    // eu-west-2 renamed (here: spelled differently in the file, as a typo would be): its addresses stay approved.
    const renamed = NEW.toString('utf8').replaceAll('"region": "eu-west-2"', '"region": "eu-west-2x"');
    serve(Buffer.from(renamed));
    for (let run = 0; run < 3; run++) {
      const { report } = await h.run();
      const aws = target(report);
      expect(aws.status).toBe('partial');
      expect(aws.removed).toEqual([]);
    }
    const { report } = await h.run();
    expect(report.warnings.concat(report.targets.flatMap((t) => (t as never as { warnings: [] }).warnings))).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ code: 'aws-ip-ranges-region-missing', message: expect.stringContaining('"eu-west-2x"') }),
      ]),
    );
    expect((await h.state()).targets.get('aws')!.proposed ?? approved).toEqual(approved);
  }, 300_000);
});
