import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { formatReport, formatStatus } from '../../bin/text-report.js';
import { acceptObservation } from '../../shared/engine/accept.js';
import { readStatus } from '../../shared/engine/status.js';
import { covers, intersects, parseCidr, type Cidr } from '../../shared/ipset.js';
import { AllowlistError } from '../../shared/problem.js';
import { BRANCH, CAS_PATH, startHarness, type Harness } from './harness.js';

/**
 * Issue 11 end to end: a typo in one cell of the CAS page blinds only that cell's section and data center. The rest
 * of the page is judged as on a complete check, so an address dropped elsewhere is still removed after
 * `removeAfterMisses` checks, while no approved address of the unreadable row is ever counted missing.
 */

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const RULES = 'firewall/cas.json';
const COMPLETE = readFileSync(new URL('../fixtures/cas/engine-complete.md', import.meta.url), 'utf8');
/** The US1 App connector row as the complete page lists it. */
const US1_CONNECTOR = [
  '13.64.196.27',
  '13.64.198.19',
  '13.64.16.134',
  '13.64.16.130',
  '13.64.16.132',
  '13.64.16.129',
  '13.64.16.138',
  '13.64.16.135',
].map((ip) => parseCidr(ip));
/** Listed only in the EU1 App connector row. */
const DROPPED = parseCidr('13.95.30.46');

/** The next revision: a letter glued to one US1 App connector address (its comma lost), and one EU1 address gone. */
const TYPO = edit(COMPLETE, ['13.64.16.132, 13.64.16.129', '13.64.16.132m 13.64.16.129'], ['13.95.30.46, ', '']);
/** The typo fixed; the EU1 address stays gone. */
const FIXED = edit(COMPLETE, ['13.95.30.46, ', '']);

function edit(page: string, ...replacements: Array<[string, string]>): string {
  return replacements.reduce((text, [from, to]) => {
    expect(text).toContain(from);
    return text.replace(from, to);
  }, page);
}

const entries = (branch: string) => JSON.parse(h.github.readFile(branch, RULES) ?? '[]') as Cidr[];

/** One CAS target (US1 and EU1: portal, App connector, mail) written to one JSON file; removals after three misses. */
async function casHarness(): Promise<Harness> {
  const harness = await startHarness({
    config: (defaults, { http }) => ({
      ...defaults,
      targets: [
        {
          id: 'cas',
          type: 'cas-docs',
          url: `${http.url}${CAS_PATH}`,
          dataCenters: ['US1', 'EU1'],
          sections: ['portal', 'app-connector', 'mail'],
        },
      ],
      files: [{ path: RULES, format: 'json', targets: ['cas'] }],
      policy: { removeAfterMisses: 3 },
    }),
  });
  harness.serveCasPage(COMPLETE);
  return harness;
}

/** The first PR, merged, and the run that promotes it: the baseline is the complete page. */
async function approvedBaseline(): Promise<Cidr[]> {
  await h.run();
  h.github.mergePullRequest(1);
  await h.run();
  const baseline = (await h.state()).targets.get('cas')!.baseline!;
  expect(baseline).toContain(DROPPED);
  expect(US1_CONNECTOR.every((cidr) => covers(baseline, cidr))).toBe(true);
  return baseline;
}

/** Every counter stored for the target; none may touch the unreadable row. */
async function storedMisses(): Promise<Record<string, number>> {
  const misses = (await h.state()).targets.get('cas')!.misses;
  expect(intersects(Object.keys(misses) as Cidr[], US1_CONNECTOR), JSON.stringify(misses)).toBe(false);
  return misses;
}

describe('engine: a CAS page with one unreadable cell (issue 11)', () => {
  it('removes an address dropped elsewhere after three checks, never counts the unreadable row missing, and says why', async () => {
    h = await casHarness();
    const baseline = await approvedBaseline();

    h.serveCasPage(TYPO);
    for (const check of [1, 2, 3]) {
      const { report } = await h.run();
      const [target] = report.targets;
      expect(target!.status).toBe('partial');
      expect(target!.errors).toEqual([]);
      expect(target!.warnings).toHaveLength(1);
      expect(target!.warnings[0]!.code).toBe('cas-unreadable-address');
      expect(target!.warnings[0]!.message).toContain('under "App connector, row US1": "13.64.16.132m" is not an IP address or CIDR');
      expect(target!.warnings[0]!.message).toContain('what it lists for section app-connector in US1 is unknown');
      expect(target!.observed).not.toContain(parseCidr('13.64.16.132'));
      expect(target!.added).toEqual([]);

      const misses = await storedMisses();
      if (check < 3) {
        expect(misses).toEqual({ [DROPPED]: check });
        expect(target!.pendingRemoval).toEqual([{ cidr: DROPPED, misses: check }]);
        expect(report.pullRequest).toEqual({ action: 'none' });
      } else {
        expect(target!.removed).toEqual([DROPPED]);
        expect(report.pullRequest).toMatchObject({ action: 'created', number: 2 });
      }
    }

    // The PR removes the dropped address and nothing of the unreadable row, which its files keep.
    const pull = h.github.pullRequest(2);
    const body = pull.body ?? '';
    expect(pull.title).toBe('allowlist: +0 -1 across cas');
    expect(entries(BRANCH)).toEqual(baseline.filter((cidr) => cidr !== DROPPED));
    expect(body).toMatch(
      new RegExp(`- \`${DROPPED.replace(/\./g, '\\.')}\`: last listed by .*EU1.*; missing from 3 complete checks in a row`),
    );
    const partial = body.slice(body.indexOf('### Checks that were partial'));
    expect(partial).toContain('- **cas** (cas-docs): partial');
    expect(partial).toContain('the approved addresses of the part that was not read are kept, neither counted missing nor removed');
    expect(body).toContain('cas-unreadable-address: line 26 of the CAS page, under "App connector, row US1": "13.64.16.132m"');
    expect(body).toContain('what it lists for section app-connector in US1 is unknown');
    expect(body).not.toContain('### Checks that failed');

    // The human report and `status` say partial, apart from error, and why.
    const { report } = await h.run();
    expect(report.pullRequest).toMatchObject({ action: 'unchanged', number: 2 });
    const text = formatReport(report);
    expect(text).toMatch(/^cas +partial +\+0 +-1 +0 +1$/m);
    expect(text).toContain('1 target: 0 ok, 1 partial, 0 error, 0 held');
    expect(text).toContain('cas partial: what was read is applied; approved addresses of what could not be read are kept');
    expect(text).toContain('cas warning cas-unreadable-address: line 26 of the CAS page');
    const status = await readStatus(h.config, h.store);
    expect(status.targets[0]).toMatchObject({ id: 'cas', status: 'partial', lastErrors: [] });
    expect(status.targets[0]!.warnings.map((w) => w.code)).toEqual(['cas-unreadable-address']);
    expect(formatStatus(status)).toContain('cas partial, warning cas-unreadable-address: line 26 of the CAS page');
    await storedMisses();

    // The next complete page clears the partial; the PR it already holds stays as it is.
    h.serveCasPage(FIXED);
    const fixed = await h.run();
    expect(fixed.report.targets[0]).toMatchObject({ status: 'ok', warnings: [], removed: [DROPPED] });
    expect(fixed.report.pullRequest).toMatchObject({ action: 'unchanged', number: 2 });
    expect(await storedMisses()).toEqual({ [DROPPED]: 5 });
    const cleared = await readStatus(h.config, h.store);
    expect(cleared.targets[0]).toMatchObject({ status: 'ok', warnings: [] });
    expect(formatStatus(cleared)).not.toContain('partial');
  });

  it('brings a removal confirmed while the typo lasts into the PR already open for an addition', async () => {
    h = await casHarness();
    await approvedBaseline();
    const ADDED = parseCidr('40.119.154.72');
    h.serveCasPage(edit(TYPO, ['40.74.6.204|', '40.74.6.204, 40.119.154.72|']));

    const first = await h.run();
    expect(first.report.targets[0]).toMatchObject({ status: 'partial', added: [ADDED] });
    expect(first.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(h.github.pullRequest(2).title).toBe('allowlist: +1 -0 across cas');
    expect((await h.run()).report.pullRequest).toMatchObject({ action: 'unchanged', number: 2 });

    // The third check confirms the EU1 removal; the open PR's proposal must not keep it just because the check is partial.
    const third = await h.run();
    expect(third.report.targets[0]).toMatchObject({ status: 'partial', removed: [DROPPED] });
    expect(third.report.pullRequest).toMatchObject({ action: 'updated', number: 2 });
    expect(h.github.pullRequest(2).title).toBe('allowlist: +1 -1 across cas');
    const files = entries(BRANCH);
    expect(files).toContain(ADDED);
    expect(files).not.toContain(DROPPED);
    expect(US1_CONNECTOR.every((cidr) => covers(files, cidr))).toBe(true);
    expect((await h.state()).config.pullRequest!.proposal['cas']).toEqual(files);
    await storedMisses();
  });
  it('keeps a pending addition of the unreadable row in the open PR while the typo lasts', async () => {
    h = await casHarness();
    await approvedBaseline();
    const PENDING = parseCidr('13.64.16.131');
    const added = edit(COMPLETE, ['13.64.16.129, 13.64.16.138', '13.64.16.129, 13.64.16.131, 13.64.16.138']);
    h.serveCasPage(added);
    expect((await h.run()).report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(h.github.pullRequest(2).title).toBe('allowlist: +1 -0 across cas');
    const head = h.github.refSha(BRANCH);

    // The new address is the unreadable one now: the check cannot tell it is gone, so the PR keeps proposing it.
    h.serveCasPage(edit(added, ['13.64.16.131, 13.64.16.138', '13.64.16.131m 13.64.16.138']));
    for (const check of [1, 2]) {
      const { report } = await h.run();
      expect(report.targets[0]!.status, `check ${check}`).toBe('partial');
      expect(report.pullRequest).toMatchObject({ action: 'unchanged', number: 2 });
      expect(covers((await h.state()).targets.get('cas')!.proposed!, PENDING)).toBe(true);
    }
    expect(h.github.refSha(BRANCH)).toBe(head);
    expect(covers(entries(BRANCH), PENDING)).toBe(true);
    await storedMisses();

    h.serveCasPage(added);
    expect((await h.run()).report).toMatchObject({ targets: [{ status: 'ok' }], pullRequest: { action: 'unchanged', number: 2 } });
  });
});

describe('accept of a partial CAS check (issue 11)', () => {
  const accept = () => acceptObservation({ config: h.config, store: h.store, env: {}, targetId: 'cas' });

  it('keeps the approved addresses of the unreadable cell and judges the rest of the page', async () => {
    h = await casHarness();
    const complete = await accept();
    expect(complete.status).toBe('ok');
    expect(US1_CONNECTOR.every((cidr) => covers(complete.baseline, cidr))).toBe(true);

    h.serveCasPage(TYPO);
    const partial = await accept();
    expect(partial.status).toBe('partial');
    expect(partial.warnings.map((w) => w.code)).toEqual(['cas-unreadable-address']);
    // 13.64.16.132 is not on this revision, but its row cannot be read: it stays. The EU1 address was readable and is gone.
    expect(partial.baseline).toEqual(complete.baseline.filter((cidr) => cidr !== DROPPED));
    const record = (await h.state()).targets.get('cas')!;
    expect(record.baseline).toEqual(partial.baseline);
    expect(record.misses).toEqual({});
    expect(record.lastStatus).toBe('partial');

    // The next check of the same page counts nothing missing and proposes nothing: the baseline is what it can judge.
    const { report } = await h.run();
    expect(report.targets[0]).toMatchObject({ status: 'partial', added: [], removed: [], pendingRemoval: [] });
    expect(report.pullRequest).toEqual({ action: 'none' });
    await storedMisses();
  });

  it('refuses a partial check that cannot say what it missed, and stores nothing', async () => {
    h = await casHarness();
    const complete = await accept();
    // A heading no rule maps: with sections listed by name, a renamed section must not look like removed addresses.
    h.serveCasPage(edit(COMPLETE, ['## Next steps', '## Relay servers\n\n- 52.100.1.1\n\n## Next steps']));

    const refused = await accept().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(AllowlistError);
    expect((refused as AllowlistError).code).toBe('accept-incomplete');
    expect((refused as AllowlistError).message).toBe(
      'cas: the observation is "partial" (cas-section-unrecognised): it could not tell which part of the source it missed, ' +
        'so accepting it could drop approved entries; only a complete observation, or a partial one that names what it could ' +
        'not read, can become the baseline',
    );
    const record = (await h.state()).targets.get('cas')!;
    expect(record.baseline).toEqual(complete.baseline);
    expect(record.lastStatus).toBe('ok');
  });
});
