import { afterEach, describe, expect, it } from 'vitest';
import { formatStatus } from '../../bin/text-report.js';
import { parseConfig } from '../../shared/config.js';
import { runCheck } from '../../shared/engine/check.js';
import { readStatus } from '../../shared/engine/status.js';
import { parseCidr } from '../../shared/ipset.js';
import { fastPublisher } from '../support.js';
import { PLAIN_HEADER_TAIL } from '../../shared/render/plain.js';
import { BRANCH, CONFIG_NAME, TOKEN, startHarness, type Harness } from './harness.js';

/** The generated header's lines, which these scenarios do not look at. */
const isHeader = (line: string) => line.startsWith('# Kept up to date by allowlist-drift') || PLAIN_HEADER_TAIL.includes(line);

/**
 * What people write into the rule files and the config, read as the truth it is: entries the config does not manage
 * are never reshaped, approved entries taken off the base branch are reported, `exclude` keeps addresses out, files
 * shared with another config keep that config's entries, and deprecated IPv6 forms stay the address written.
 */

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const RULES = 'firewall/acme.txt';
const lines = (branch: string) => (h.github.readFile(branch, RULES) ?? '').split('\n').filter((line) => line !== '');

/** One front-end written to one plain file, removals at the first complete miss; 52.1.1.1 and 52.1.2.2 approved. */
async function approved(): Promise<Harness> {
  const harness = await startHarness({
    config: (defaults) => ({
      ...defaults,
      targets: [{ id: 'acme-prod', type: 'outsystems', frontEnds: ['fe1.acme.test'] }],
      files: [{ path: RULES, format: 'plain', targets: ['acme-prod'] }],
      policy: { removeAfterMisses: 1 },
    }),
  });
  harness.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.2.2'] });
  await harness.run();
  harness.github.mergePullRequest(1);
  await harness.run();
  return harness;
}

describe('entries people wrote', () => {
  it('1. a removal inside a hand-added range leaves the range whole and verbatim, and the PR says what still allows it', async () => {
    h = await approved();
    const mainFile = h.github.readFile('main', RULES)!;
    h.github.moveBase({ [RULES]: `${mainFile}\n# partner VPN, added by alice (CHG-1234)\n52.1.0.0/16\n` }, 'Allow the partner VPN');

    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.2.2', '52.16.3.30'] });
    const run = await h.run();
    expect(run.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(lines(BRANCH).filter((line) => !isHeader(line))).toEqual([
      '52.1.2.2/32',
      '52.16.3.30/32',
      '# partner VPN, added by alice (CHG-1234)',
      '52.1.0.0/16',
    ]);
    const pull = h.github.pullRequest(2);
    expect(pull.title).toBe('allowlist: +1 -0 across acme-prod');
    expect(pull.body).toContain('### Removed here, still allowed by another entry');
    expect(pull.body).toContain('- `52.1.1.1/32` stays allowed in firewall/acme.txt by `52.1.0.0/16` (\\# partner VPN, added by alice');
    expect(pull.body).toContain('CHG-1234');
    // The person's range is listed as they wrote it, not as the pieces the config does not manage.
    expect(pull.body).toContain('- 52.1.0.0/16 in firewall/acme.txt (\\# partner VPN, added by alice');
    expect(pull.body).not.toContain('- 52.1.0.0/24');
    expect(run.report.warnings).toContainEqual({ code: 'still-allowed', message: expect.stringContaining('52.1.0.0/16') });

    // Merged, the range is still read as the person's: a later check proposes nothing.
    h.github.mergePullRequest(2);
    await h.run();
    expect((await h.run()).report.pullRequest).toEqual({ action: 'none' });
    expect(lines('main')).toContain('52.1.0.0/16');
  });

  it('1b. a hand-added range without a comment is kept whole too, never merged with the config’s own entries', async () => {
    h = await approved();
    h.github.moveBase({ [RULES]: `${h.github.readFile('main', RULES)!}52.1.0.0/16\n` }, 'Allow a range');
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.2.2', '52.16.3.30'] });
    const run = await h.run();
    expect(run.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(lines(BRANCH).filter((line) => !line.startsWith('#'))).toEqual(['52.1.0.0/16', '52.1.2.2/32', '52.16.3.30/32']);
    expect(h.github.pullRequest(2).body).toContain('(added by hand; no comment says by whom)');
  });

  it('3. exclude keeps an address out even while it is observed, removes an approved one, and the PR and status say so', async () => {
    h = await approved();
    const target = h.config.targets[0]!;
    const config = { ...h.config, targets: [{ ...target, exclude: [parseCidr('52.1.2.0/24')] }] };
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.2.2', '52.1.2.3', '52.16.3.30'] });

    const run = await h.run({ config });
    expect(run.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(run.report.targets[0]).toMatchObject({ added: ['52.16.3.30/32'], excluded: ['52.1.2.2/31'] });
    expect(lines(BRANCH).filter((line) => !line.startsWith('#'))).toEqual(['52.1.1.1/32', '52.16.3.30/32']);
    const pull = h.github.pullRequest(2);
    expect(pull.title).toBe('allowlist: +1 -1 across acme-prod');
    expect(pull.body).toContain('### Excluded by the config');
    expect(pull.body).toContain('- acme-prod: `52.1.2.2/31`');

    const status = await readStatus(config, h.store);
    expect(status.targets[0]!.excluded).toEqual(['52.1.2.0/24']);
    expect(formatStatus(status)).toContain('acme-prod excludes 52.1.2.0/24: never proposed, even when observed');

    // Merged, the exclusion holds: the observed address is never proposed again.
    h.github.mergePullRequest(2);
    await h.run({ config });
    const quiet = await h.run({ config });
    expect(quiet.report.pullRequest).toEqual({ action: 'none' });
    expect((await h.state()).targets.get('acme-prod')!.baseline).toEqual(['52.1.1.1/32', '52.16.3.30/32']);
  });

  it('4. a plain file another config also writes keeps that config’s entries when this one removes the same address', async () => {
    h = await startHarness({
      config: (defaults) => ({
        ...defaults,
        targets: [{ id: 'acme-prod', type: 'outsystems', frontEnds: ['fe1.acme.test'] }],
        files: [{ path: RULES, format: 'plain', targets: ['acme-prod'] }],
        policy: { removeAfterMisses: 1 },
      }),
    });
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.7.7.7'] });
    await h.run();
    h.github.mergePullRequest(1);
    await h.run();

    // Another deployment's config "partners" writes the same file; its PR is merged.
    const partners = parseConfig({
      name: 'partners',
      targets: [{ id: 'partners', type: 'static', entries: ['52.7.7.7', '52.8.8.8'] }],
      github: { owner: h.github.owner, repo: h.github.repo, base: h.github.base, apiUrl: h.github.url, dashboard: false },
      files: [{ path: RULES, format: 'plain', targets: ['partners'] }],
    });
    const env = { GITHUB_TOKEN: TOKEN };
    const runPartners = () =>
      runCheck({ config: partners, store: h.store, env, trigger: 'cli', dryRun: false, publisher: fastPublisher(env) });
    expect((await runPartners()).pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(lines('allowlist-drift/partners')).toEqual([
      expect.stringContaining('(config "partners"'),
      ...PLAIN_HEADER_TAIL,
      '52.7.7.7/32',
      '52.8.8.8/32',
      '# kept for allowlist-drift config "prod"',
      '52.1.1.1/32',
      '52.7.7.7/32',
    ]);
    h.github.mergePullRequest(2);
    await runPartners();

    // prod's front-end no longer answers 52.7.7.7: a confirmed removal for prod, but partners still wants it.
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.16.3.30'] });
    const run = await h.run();
    expect(run.report.pullRequest).toMatchObject({ action: 'created', number: 3 });
    expect(lines(BRANCH).filter((line) => !isHeader(line))).toEqual([
      '52.1.1.1/32',
      '52.16.3.30/32',
      '# kept for allowlist-drift config "partners"',
      '52.7.7.7/32',
      '52.8.8.8/32',
    ]);
    expect(h.github.pullRequest(3).title).toBe('allowlist: +1 -0 across acme-prod');
    expect(h.github.pullRequest(3).body).toContain(
      '`52.7.7.7/32` stays allowed in firewall/acme.txt by `52.7.7.7/32` (allowlist-drift config "partners")',
    );

    // Merged, partners still finds its entries and has nothing to propose.
    h.github.mergePullRequest(3);
    await h.run();
    const again = await runPartners();
    expect(again.pullRequest).toEqual({ action: 'none' });
    expect(again.targets[0]!.status).toBe('ok');
    expect(lines('main')).toContain('52.7.7.7/32');
  });

  it('5. a deprecated IPv6 form is written as the address it is, never as another one', async () => {
    h = await startHarness({
      config: (defaults) => ({
        ...defaults,
        targets: [{ id: 'legacy', type: 'static', entries: ['::52.1.1.1', '::ffff:52.1.1.2', 'fec0::1'] }],
        files: [{ path: RULES, format: 'plain', targets: ['legacy'] }],
      }),
    });
    const run = await h.run();
    expect(run.report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    expect(lines(BRANCH).filter((line) => !line.startsWith('#'))).toEqual(['::3401:101/128', '::ffff:3401:102/128', 'fec0::1/128']);
  });

  it('2. an approved address taken off the base branch is reported on every run, and the next PR says it restores it', async () => {
    h = await approved();
    const quiet = await h.run();
    expect(quiet.report.warnings).toEqual([]);

    // A person removes 52.1.2.2 from the file on main.
    h.github.moveBase({ [RULES]: h.github.readFile('main', RULES)!.replace('52.1.2.2/32\n', '') }, 'Remove a front-end by hand');
    const noticed = await h.run();
    expect(noticed.report.pullRequest).toEqual({ action: 'none' });
    expect(noticed.report.warnings).toEqual([
      { code: 'base-differs', message: expect.stringContaining('firewall/acme.txt on main lacks 52.1.2.2/32, approved for config "prod"') },
    ]);
    // The branch moved: its head, then the one file.
    expect(noticed.githubRequests).toBe(2);

    const again = await h.run();
    expect(again.report.warnings.map((w) => w.code)).toEqual(['base-differs']);
    expect(again.githubRequests).toBe(1);
    expect(h.github.requests.at(-1)).toMatchObject({ method: 'GET', status: 304 });
    // A dry run says the same, and stores nothing.
    const dry = await h.run({ dryRun: true });
    expect(dry.report.warnings.map((w) => w.code)).toEqual(['base-differs']);
    const status = await readStatus(h.config, h.store);
    expect(status.baseDiffers).toEqual([{ path: RULES, missing: ['52.1.2.2/32'] }]);
    expect(formatStatus(status)).toContain('base-differs: firewall/acme.txt lacks 52.1.2.2/32');

    // An unrelated addition: the PR writes the approved address back, and lists it under its own heading.
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.2.2', '52.16.3.30'] });
    const restoring = await h.run();
    expect(restoring.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    const body = h.github.pullRequest(2).body ?? '';
    expect(body).toContain('### Restored: approved, but missing from the base branch');
    expect(body).toMatch(/^- 52\.1\.2\.2\/32$/m);
    expect(lines(BRANCH).filter((line) => !line.startsWith('#'))).toEqual(['52.1.1.1/32', '52.1.2.2/32', '52.16.3.30/32']);

    // Excluding it makes the hand removal stick: the PR drops it, and the warning ends.
    const target = h.config.targets[0]!;
    const config = { ...h.config, targets: [{ ...target, exclude: [parseCidr('52.1.2.2')] }] };
    const excluded = await h.run({ config });
    expect(excluded.report.pullRequest).toMatchObject({ action: 'updated', number: 2 });
    expect(excluded.report.warnings.map((w) => w.code)).not.toContain('base-differs');
    expect(lines(BRANCH).filter((line) => !line.startsWith('#'))).toEqual(['52.1.1.1/32', '52.16.3.30/32']);
    expect(h.github.pullRequest(2).body).not.toContain('### Restored');
  });

  it('2b. a config row the current release wrote (no base record) is read, and the first run compares the base once', async () => {
    h = await approved();
    const { base: _none, ...written } = (await h.state()).config;
    await h.store.write(CONFIG_NAME, { config: written, targets: [] });
    expect((await h.state()).config.base).toBeUndefined();
    expect((await readStatus(h.config, h.store)).baseDiffers).toEqual([]);

    const first = await h.run();
    expect(first.report.warnings).toEqual([]);
    // No ETag to ask with: the head and the one file.
    expect(first.githubRequests).toBe(2);
    expect((await h.state()).config.base).toMatchObject({ sha: h.github.refSha('main'), differs: [] });
    expect((await h.run()).githubRequests).toBe(1);
    expect(h.github.requests.at(-1)).toMatchObject({ method: 'GET', status: 304 });
  });
});
