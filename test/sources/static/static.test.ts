import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type StaticTarget, type Target } from '../../../shared/config.js';
import { observationError, observeTarget } from '../../../shared/sources/index.js';
import type { SourceContext } from '../../../shared/sources/source.js';
import { observeStatic } from '../../../shared/sources/static/index.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer } from '../../peers/http.js';

const NOW = new Date('2025-11-10T06:00:00.000Z');

function context(overrides: Partial<SourceContext> = {}): SourceContext {
  return {
    config: {
      dns: { timeoutMs: 2_000, tries: 2, concurrency: 32, stabilityQueries: 2 },
      http: { timeoutMs: 20_000, maxBytes: 16 * 1024 * 1024 },
    },
    env: {},
    now: () => NOW,
    ...overrides,
  };
}

function targets(...list: unknown[]): Target[] {
  return parseConfig({ targets: list }).targets;
}

const [office] = targets({
  id: 'office',
  type: 'static',
  entries: ['2001:DB8:0:0::1', '203.0.113.9/24', '198.51.100.7', '203.0.113.0/24', '10.0.0.0/8'],
}) as [StaticTarget];

describe('observeStatic', () => {
  it('observes the configured entries, canonical, unique and sorted, as static evidence', async () => {
    const observation = await observeStatic(office, context());

    expect(observation).toEqual({
      targetId: 'office',
      type: 'static',
      observedAt: '2025-11-10T06:00:00.000Z',
      status: 'ok',
      entries: [
        { cidr: '10.0.0.0/8', evidence: [{ kind: 'static' }] },
        { cidr: '198.51.100.7/32', evidence: [{ kind: 'static' }] },
        { cidr: '203.0.113.0/24', evidence: [{ kind: 'static' }] },
        { cidr: '2001:db8::1/128', evidence: [{ kind: 'static' }] },
      ],
      warnings: [],
      errors: [],
    });
  });
});

describe('observeTarget', () => {
  let peer: HttpPeer;
  beforeAll(async () => {
    peer = await startHttpPeer(
      routes({
        '/ServiceTags_Public.json': {
          body: sharedFile('fixtures/service-tags/ServiceTags_Public_2025-11-07.json'),
          contentType: 'application/octet-stream',
        },
      }),
    );
  });
  afterAll(async () => {
    await peer.close();
  });

  it('dispatches a static target', async () => {
    const observation = await observeTarget(office, context());
    expect(observation.status).toBe('ok');
    expect(observation.entries.map((entry) => entry.cidr)).toEqual(['10.0.0.0/8', '198.51.100.7/32', '203.0.113.0/24', '2001:db8::1/128']);
  });

  it('dispatches a service-tags target and hands the previous facts through', async () => {
    const [tags] = targets({
      id: 'azure',
      type: 'service-tags',
      url: `${peer.url}/ServiceTags_Public.json`,
      tags: ['AzureFrontDoor.MicrosoftSecurity'],
    });
    const fresh = await observeTarget(tags!, context());
    const stale = await observeTarget(tags!, context({ previousFacts: { fileChangeNumber: 999, source: 'file' } }));

    expect(fresh.status).toBe('ok');
    expect(fresh.entries).toHaveLength(7);
    expect(fresh.facts).toMatchObject({ fileChangeNumber: 274, source: 'file' });
    expect(stale.errors.map((problem) => problem.code)).toEqual(['service-tags-stale']);
  });

  it('turns an exception inside a source into an error observation instead of throwing', async () => {
    const broken = { ...office, entries: 42 } as unknown as Target;
    const observation = await observeTarget(broken, context());

    expect(observation).toMatchObject({ targetId: 'office', type: 'static', status: 'error', entries: [], warnings: [] });
    expect(observation.errors).toHaveLength(1);
    expect(observation.errors[0]!.code).toBe('internal-error');
  });

  it('still answers when the clock itself throws', async () => {
    const observation = await observeTarget(
      office,
      context({
        now: () => {
          throw new Error('clock unavailable');
        },
      }),
    );
    expect(observation.status).toBe('error');
    expect(observation.errors).toEqual([{ code: 'internal-error', message: 'clock unavailable' }]);
    expect(Number.isNaN(Date.parse(observation.observedAt))).toBe(false);
  });

  it('reports a target type no source knows as an error', async () => {
    const alien = { id: 'alien', type: 'carrier-pigeon' } as unknown as Target;
    const observation = await observeTarget(alien, context());
    expect(observation.status).toBe('error');
    expect(observation.errors[0]!.message).toContain('"carrier-pigeon"');
  });
});

describe('observationError', () => {
  it('is an error observation with one problem and no entries', () => {
    expect(observationError(office, { code: 'aborted', message: 'the run was cancelled' }, NOW)).toEqual({
      targetId: 'office',
      type: 'static',
      observedAt: '2025-11-10T06:00:00.000Z',
      status: 'error',
      entries: [],
      warnings: [],
      errors: [{ code: 'aborted', message: 'the run was cancelled' }],
    });
  });
});
