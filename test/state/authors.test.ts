import { describe, expect, it } from 'vitest';
import type { Cidr } from '../../shared/ipset.js';
import type { ConfigRecord, PullRequestRecord } from '../../shared/state/records.js';
import { writeAsFirstRelease } from './first-release.js';
import { freshStore, withoutEtag } from './records.js';

/**
 * The PR and dashboard records name who opened them (the tool's identity then), so that they stay the tool's own
 * after a change of credentials. Records written before that field existed read unchanged, without it.
 */

const PULL: PullRequestRecord = {
  number: 7,
  url: 'https://github.com/contoso/network/pull/7',
  branch: 'allowlist-drift/prod',
  headSha: 'a'.repeat(40),
  fingerprint: '0123456789abcdef',
  state: 'open',
  proposal: { 'acme-prod': ['52.1.1.1/32' as Cidr] },
  updatedAt: '2025-11-07T11:00:00.000Z',
  textFingerprint: 'fedcba9876543210',
};

describe('state: who opened the PR and the dashboard', () => {
  it('a record written by this release, authors included, reads back equal', async () => {
    const { store } = await freshStore();
    const config: ConfigRecord = {
      configName: 'prod',
      pullRequest: { ...PULL, author: 'allowlist-drift[bot]' },
      dashboard: { number: 8, state: 'open', bodyHash: '0011223344556677', author: 'allowlist-drift[bot]' },
      declined: ['1111111111111111'],
    };
    await store.write('prod', { config, targets: [] });
    expect(withoutEtag((await store.read('prod')).config)).toEqual(config);
  });

  it('a record written before authors were recorded reads unchanged, without them', async () => {
    const { store, raw } = await freshStore();
    const config = {
      configName: 'prod',
      pullRequest: PULL,
      dashboard: { number: 8, state: 'closed', bodyHash: '0011223344556677' },
      declined: [],
    };
    await writeAsFirstRelease(raw, 'prod', { config, targets: [] });
    const read = (await store.read('prod')).config;
    expect(withoutEtag(read)).toEqual(config);
    expect(read.pullRequest!.author).toBeUndefined();
    expect(read.dashboard!.author).toBeUndefined();
  });
});
