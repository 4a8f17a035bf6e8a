import { afterEach, describe, expect, it } from 'vitest';
import { parseCidr } from '../../shared/ipset.js';
import { BRANCH, FE1_V4, FE1_V6, FE2_V4, FILES, startHarness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  expect(h?.github.violations).toEqual([]);
  await h?.close();
  h = undefined;
});

/** The OutSystems target's only file takes IPv4: its IPv6 front-end address has no file to be read back from. */
async function ipv4Only(): Promise<Harness> {
  return startHarness({
    config: (defaults) => ({
      ...defaults,
      files: [
        { path: FILES.outsystems, format: 'plain', family: 'ipv4', targets: ['acme-prod'] },
        { path: FILES.cas, format: 'json', targets: ['cas-eu'] },
      ],
    }),
  });
}

describe('engine: a file of one address family (issue 15)', () => {
  it('writes only IPv4 to an ipv4 file, and a merge approves the IPv6 address the file cannot hold', async () => {
    h = await ipv4Only();
    await h.run();
    const proposal = (await h.state()).config.pullRequest!.proposal;
    expect(proposal['acme-prod']).toContain(parseCidr(FE1_V6));
    const written = (h.github.readFile(BRANCH, FILES.outsystems) ?? '').split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    expect(written).toEqual([`${FE1_V4}/32`, `${FE2_V4}/32`]);

    h.github.mergePullRequest(1);
    const { report } = await h.run();

    expect(report.pullRequest).toEqual({ action: 'none' });
    // Without the family rule the IPv6 address would never count as merged, and every run would propose it again.
    expect((await h.state()).targets.get('acme-prod')!.baseline).toEqual(proposal['acme-prod']);
    const after = await h.run();
    expect(after.report.pullRequest).toEqual({ action: 'none' });
  });
});
