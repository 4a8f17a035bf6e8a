import { describe, expect, it } from 'vitest';
import { MAX_BODY_CHARS, renderPullRequest } from '../../shared/publish/pr-text.js';
import { sharedFile } from '../peers/http.js';
import {
  CAS_PAGE_URL,
  firstPrThreeSourcesInput,
  firstRunInput,
  largestFirstPrInput,
  partialAndHeldInput,
  removalInput,
  SERVICE_TAGS_URL,
  updateNewFrontEndInput,
  type UpstreamTexts,
} from './pr-cases.js';

/**
 * Issue 13's golden pull requests, each reviewed by reading it rendered as markdown (test/publish/golden/*.md).
 * The assertions beside each golden name what the reviewer must find in its first lines.
 */
const texts: UpstreamTexts = {
  casPage: sharedFile('fixtures/cas/network-requirements_2024-06-20.md').toString('utf8'),
  serviceTags: sharedFile('fixtures/service-tags/ServiceTags_Public_2025-11-07.json').toString('utf8'),
};
/** The story: the total, then one table row per changed target (before any alert or detail). */
const top = (body: string) => body.slice(0, body.indexOf('\n\n', body.indexOf('| Target |')));

describe('golden pull requests (issue 13)', () => {
  it('the bench’s first-run input renders the first-run golden', async () => {
    await expect(renderPullRequest(firstRunInput(texts)).body).toMatchFileSnapshot('golden/first-run.md');
  });

  it('a first PR over OutSystems, CAS and service tags', async () => {
    const { title, body } = renderPullRequest(firstPrThreeSourcesInput(texts));
    await expect(body).toMatchFileSnapshot('golden/first-pr-three-sources.md');
    expect(title).toMatch(/^allowlist: \+\d+ -0 across outsystems-prod, cas-eu1, mcas-gwc$/);
    const story = top(body);
    expect(story).toContain('| outsystems-prod (outsystems) | +2 −0 |');
    expect(story).toContain(`[CAS page](${CAS_PAGE_URL}) revision 2024-02-29`);
    expect(story).toContain(`[service tags file](${SERVICE_TAGS_URL}) changeNumber 274: tag MicrosoftCloudAppSecurity.GermanyWestCentral`);
    expect(body).not.toContain('[!WARNING]');
  });

  it('an update with one new front-end', async () => {
    const { title, body } = renderPullRequest(updateNewFrontEndInput());
    await expect(body).toMatchFileSnapshot('golden/update-new-front-end.md');
    expect(title).toBe('allowlist: +1 -0 across outsystems-prod');
    expect(top(body)).toContain(
      '| outsystems-prod (outsystems) | +1 −0 | DNS A answer from resolver 168.63.129.16:53: acmefe3.outsystemsenterprise.com |',
    );
    // Only the new address is news; the two approved ones appear in the diff's context at most.
    expect(body).toContain('acmefe3.outsystemsenterprise.com, TTL 300 s: `52.17.9.3/32`');
    expect(body).not.toContain('acmefe1.outsystemsenterprise.com');
    expect(body).toContain('+52.17.9.3/32');
  });

  it('a removal PR says where the address stood, when it was last seen, its misses and what the host holds now', async () => {
    const { title, body } = renderPullRequest(removalInput());
    await expect(body).toMatchFileSnapshot('golden/removal.md');
    expect(title).toBe('allowlist: +1 -1 across outsystems-prod');
    expect(body).toContain(
      '- `52.17.1.12/32`: last listed by DNS A answer from resolver 168.63.129.16:53, acmefe2.outsystemsenterprise.com, TTL 300 s, ' +
        'last seen 31 Oct 2025, 10:00 UTC; missing from 3 complete checks in a row; acmefe2.outsystemsenterprise.com now holds `52.17.2.40/32`.',
    );
  });

  it('a PR with one partial and one held target puts both at the top', async () => {
    const { title, body } = renderPullRequest(partialAndHeldInput(texts));
    await expect(body).toMatchFileSnapshot('golden/partial-and-held.md');
    expect(title).toMatch(/^allowlist: \+\d+ -0 across mcas-eu$/);
    const alert = body.slice(body.indexOf('> [!WARNING]'), body.indexOf('\n\n', body.indexOf('> [!WARNING]')));
    expect(alert).toContain('> - **outsystems-prod** is held back by guard special-range');
    expect(alert).toContain('> - **mcas-eu** was checked only in part');
    expect(alert).toContain('MicrosoftCloudAppSecurity.SwitzerlandNorth');
    // The held address is named where the hold is explained, and proposed nowhere.
    expect(body).not.toContain('`10.40.3.7/32`');
    expect(body).toContain('### Held back, not in this PR');
  });

  it('the largest realistic first PR fits GitHub’s limit with every group intact, and says what it folded', async () => {
    const input = largestFirstPrInput(texts);
    const { body } = renderPullRequest(input);
    await expect(body).toMatchFileSnapshot('golden/largest-first-pr.md');
    expect(body.length).toBeLessThanOrEqual(MAX_BODY_CHARS);
    const [outsystems, casAll, mcas] = input.drifts;
    expect(mcas!.report.added).toHaveLength(2_302);
    // Every group line and every address of the front-ends and the CAS page is there, and the run details close it.
    for (const cidr of [...outsystems!.report.added, ...casAll!.report.added]) expect(body, cidr).toContain(cidr);
    expect(body.split('\n').filter((line) => line.startsWith('**'))).toHaveLength(4);
    expect(body).toContain('<details><summary>Guard verdicts: all 18 pass</summary>');
    expect(body.trimEnd().endsWith('</details>')).toBe(true);
    // Only the tag's 2,302 prefixes are too many to list in full: that one list is cut at a whole address and says so.
    const cuts = [...body.matchAll(/… and (\d+) more, left out to fit GitHub’s size limit; the files in this PR hold all of them/g)];
    expect(cuts).toHaveLength(1);
    const tagList = body.slice(body.indexOf('**mcas** (service-tags)'));
    const listed = mcas!.report.added.filter((cidr) => tagList.includes(`\n  ${cidr}\n`)).length;
    expect(listed + Number(cuts[0]![1])).toBe(2_302);
    expect(body).not.toMatch(/cut to fit/);
    console.info(
      `largest realistic first PR: ${Buffer.byteLength(body)} bytes, ${body.length} characters, ${cuts[0]![1]} tag prefixes folded`,
    );
  });
});
