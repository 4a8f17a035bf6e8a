import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../shared/ipset.js';
import { dashboardMarker, renderDashboard, tickedApprovals, type DashboardInput } from '../../shared/publish/dashboard.js';

const FINGERPRINT = '0123456789abcdef';

const input = (overrides: Partial<DashboardInput> = {}): DashboardInput => ({
  configName: 'prod',
  pullRequest: { number: 7, url: 'https://github.test/acme/firewall/pull/7' },
  targets: [
    { id: 'acme-prod', type: 'outsystems', status: 'ok', since: '2026-11-30T10:00:00.000Z', pendingRemoval: [], errors: [], warnings: [] },
    {
      id: 'mcas-tags',
      type: 'service-tags',
      status: 'held',
      since: '2026-12-01T04:00:00.000Z',
      pendingRemoval: [{ cidr: '52.1.0.1/32', misses: 2 }],
      errors: [],
      warnings: [{ code: 'service-tag-missing', message: 'tag <b>X</b> @someone missing' }],
      held: {
        added: [parseCidr('20.0.0.0/16')],
        removed: [],
        fingerprint: FINGERPRINT,
        since: '2026-12-01T04:00:00.000Z',
        verdicts: [{ guard: 'mass-addition', outcome: 'hold', message: '1 new IPv4 range is broader than the usual /24' }],
      },
    },
  ],
  ...overrides,
});

describe('renderDashboard: refusals and released approvals', () => {
  it('says which ticked change was refused, and that an approval of an earlier change does not release this one', () => {
    const [ok, held] = input().targets;
    const stale = { fingerprint: 'fedcba9876543210', at: '2026-12-01T05:00:00.000Z', source: 'github' as const };
    const { body } = renderDashboard(
      input({ targets: [ok!, { ...held!, approval: stale }], refused: [{ targetId: 'mcas-tags', fingerprint: 'fedcba9876543210' }] }),
    );
    expect(body).toContain('### Approvals refused');
    expect(body).toContain('- **mcas-tags**: the ticked change fedcba9876543210 is no longer the one held');
    expect(body).toContain('  - the approval of fedcba9876543210 was for an earlier change; it does not release this one');
    expect(body).toMatch(/^- \[ \] \*\*mcas-tags\*\*: approve this change/m);
    expect(tickedApprovals(body)).toEqual([]);
  });

  it('confirms a released approval outside the held list, with no box to tick again', () => {
    const [ok] = input().targets;
    const approval = { fingerprint: FINGERPRINT, at: '2026-12-01T05:00:00.000Z', source: 'github' as const };
    const { body } = renderDashboard(input({ targets: [{ ...ok!, approval }] }));
    expect(body).toContain(
      '### Approved changes\n\n- **acme-prod**: approved via github at 2026-12-01T05:00:00.000Z; released into the pull request',
    );
    expect(body).not.toContain('### Held changes');
    expect(tickedApprovals(body)).toEqual([]);
  });
});

describe('renderDashboard: a change no approval can release', () => {
  it('says so with no box to tick', () => {
    const [ok, held] = input().targets;
    const everything = { ...held!.held!, added: [parseCidr('0.0.0.0/1'), parseCidr('128.0.0.0/1')], releasable: false };
    const { body } = renderDashboard(input({ targets: [ok!, { ...held!, held: everything }] }));
    expect(body).toContain(
      '- **mcas-tags**: cannot be released (held since 2026-12-01T04:00:00.000Z): with the baseline the change would allow every address, and no approval releases that',
    );
    expect(body).not.toContain('allowlist-drift:approve target=mcas-tags');
    expect(body).toContain('  - would add: 0.0.0.0/1, 128.0.0.0/1');
  });
});

describe('renderDashboard', () => {
  it('starts with the marker and lists every target, held changes with an unticked box, pending removals and problems', () => {
    const { title, body } = renderDashboard(input());
    expect(title).toBe('Allowlist drift dashboard: prod');
    expect(body.startsWith(`${dashboardMarker('prod')}\n`)).toBe(true);
    expect(body).toContain('Open pull request: #7');
    expect(body).toContain('| acme-prod | outsystems | ok | 2026-11-30T10:00:00.000Z |');
    expect(body).toContain('| mcas-tags | service-tags | **held** | 2026-12-01T04:00:00.000Z |');
    expect(body).toContain(
      `- [ ] **mcas-tags**: approve this change (held since 2026-12-01T04:00:00.000Z) <!-- allowlist-drift:approve target=mcas-tags fingerprint=${FINGERPRINT} -->`,
    );
    expect(body).toContain('  - would add: 20.0.0.0/16\n  - would remove: nothing\n  - held by mass-addition: 1 new IPv4 range');
    expect(body).toContain('- **mcas-tags**: 52.1.0.1/32 (2 misses)');
    // Upstream text is inert: no HTML, no mention.
    expect(body).toContain('tag &lt;b&gt;X&lt;/b&gt; @\u200bsomeone missing');
    expect(tickedApprovals(body)).toEqual([]);
  });

  it('is deterministic, so the publisher can skip the edit when nothing changed', () => {
    expect(renderDashboard(input()).body).toBe(renderDashboard(input()).body);
  });

  it('confirms an approval with a ticked box naming its source', () => {
    const [ok, held] = input().targets;
    const approval = { fingerprint: FINGERPRINT, at: '2026-12-01T05:00:00.000Z', source: 'github' as const, by: 'octocat' };
    const { body } = renderDashboard(input({ targets: [ok!, { ...held!, approval }] }));
    expect(body).toContain('- [x] **mcas-tags**: approved via github by octocat at 2026-12-01T05:00:00.000Z');
    expect(tickedApprovals(body)).toEqual([{ targetId: 'mcas-tags', fingerprint: FINGERPRINT }]);
  });
});

describe('tickedApprovals', () => {
  it('reads a box a person ticked (x or X, CRLF from the web editor) and ignores unticked or foreign lines', () => {
    const rendered = renderDashboard(input()).body;
    const ticked = rendered.replace('- [ ] **mcas-tags**', '- [X] **mcas-tags**').replace(/\n/g, '\r\n');
    expect(tickedApprovals(ticked)).toEqual([{ targetId: 'mcas-tags', fingerprint: FINGERPRINT }]);
    expect(tickedApprovals('- [x] approve <!-- allowlist-drift:approve target=mcas-tags fingerprint=short -->')).toEqual([]);
    expect(tickedApprovals('text - [x] <!-- allowlist-drift:approve target=mcas-tags fingerprint=0123456789abcdef -->')).toEqual([]);
  });
});
