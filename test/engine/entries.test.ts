import { afterEach, describe, expect, it } from 'vitest';
import { formatStatus } from '../../bin/text-report.js';
import { readStatus } from '../../shared/engine/status.js';
import { parseCidr } from '../../shared/ipset.js';
import { BRANCH, startHarness, type Harness } from './harness.js';

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
    expect(lines(BRANCH).filter((line) => !line.startsWith('# Generated') && !line.startsWith('# the next run'))).toEqual([
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
});
