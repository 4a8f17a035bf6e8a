import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { LeaseBusyError, type Lease } from '../../shared/state/store.js';
import { emptyTarget, freshStore } from './records.js';
import { rejection } from '../support.js';

/** A clock the test moves by hand, so expiry is decided by the test, not by how busy the machine is. */
function manualClock(start = Date.parse('2025-11-07T10:00:00.000Z')) {
  let now = start;
  return {
    now: () => new Date(now),
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('run lease', () => {
  it('is busy for a second holder until it expires, with the seconds to wait', async () => {
    const clock = manualClock();
    const { store } = await freshStore({ now: clock.now });
    const lease = await store.acquireLease('prod', 'run-a', 90_000);
    expect(lease.holder).toBe('run-a');
    expect(lease.expiresAt).toBe('2025-11-07T10:01:30.000Z');

    clock.advance(30_500);
    const error = await rejection(store.acquireLease('prod', 'run-b', 90_000));
    expect(error).toBeInstanceOf(LeaseBusyError);
    expect(error.code).toBe('run-in-progress');
    expect((error as LeaseBusyError).retryAfterSeconds).toBe(60);
    expect((error as LeaseBusyError).holder).toBe('run-a');

    clock.advance(59_200);
    expect(((await rejection(store.acquireLease('prod', 'run-b', 90_000))) as LeaseBusyError).retryAfterSeconds).toBe(1);
  });

  it('is free again after release', async () => {
    const { store } = await freshStore();
    const lease = await store.acquireLease('prod', 'run-a', 60_000);
    await lease.release();
    const next = await store.acquireLease('prod', 'run-b', 60_000);
    expect(next.holder).toBe('run-b');
  });

  it('keeps the configs apart', async () => {
    const { store } = await freshStore();
    await store.acquireLease('prod', 'run-a', 60_000);
    await expect(store.acquireLease('staging', 'run-b', 60_000)).resolves.toBeDefined();
  });

  it('expires when its holder dies without releasing it', async () => {
    const { store } = await freshStore();
    const ttlMs = 1_500;
    const crashed = await store.acquireLease('prod', 'run-crashed', ttlMs);
    await sleep(Date.parse(crashed.expiresAt) - Date.now() + 200);
    const next = await store.acquireLease('prod', 'run-next', 60_000);
    expect(next.holder).toBe('run-next');
  });

  it('is lost by a holder whose lease expired and was taken over: renew fails, release does not free it', async () => {
    const clock = manualClock();
    const { store } = await freshStore({ now: clock.now });
    const first = await store.acquireLease('prod', 'run-a', 60_000);
    await first.renew(60_000);
    clock.advance(60_001);
    const second = await store.acquireLease('prod', 'run-b', 60_000);

    const error = await rejection(first.renew(60_000));
    expect(error.code).toBe('lease-lost');
    await first.release();
    expect(((await rejection(store.acquireLease('prod', 'run-c', 60_000))) as LeaseBusyError).holder).toBe('run-b');

    await second.renew(120_000);
    expect(second.expiresAt).toBe(new Date(clock.now().getTime() + 120_000).toISOString());
  });

  it('has exactly one winner among concurrent acquirers', async () => {
    const { store } = await freshStore();
    const results = await Promise.allSettled(['r1', 'r2', 'r3', 'r4', 'r5'].map((holder) => store.acquireLease('prod', holder, 60_000)));
    const winners = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const losers = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(4);
    for (const loser of losers) {
      expect(loser).toBeInstanceOf(LeaseBusyError);
      expect((loser as LeaseBusyError).holder).toBe(winners[0]!.holder);
    }
  });

  it('has exactly one winner among concurrent takers of an expired lease', async () => {
    const clock = manualClock();
    const { store } = await freshStore({ now: clock.now });
    await store.acquireLease('prod', 'run-old', 1_000);
    clock.advance(5_000);
    const results = await Promise.allSettled(['r1', 'r2', 'r3', 'r4', 'r5'].map((holder) => store.acquireLease('prod', holder, 60_000)));
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
  });

  it('fences writes: a run that lost its lease cannot write, the new holder can and keeps its lease', async () => {
    const clock = manualClock();
    const { store } = await freshStore({ now: clock.now });
    await store.write('prod', { targets: [emptyTarget('a')] });
    const stale = (await store.read('prod')).targets.get('a')!;

    const first = await store.acquireLease('prod', 'run-a', 60_000);
    clock.advance(60_001);
    const second: Lease = await store.acquireLease('prod', 'run-b', 60_000);

    const error = await rejection(store.write('prod', { targets: [{ ...stale, lastStatus: 'ok' }] }, { lease: first }));
    expect(error.code).toBe('lease-lost');
    expect((await store.read('prod')).targets.get('a')?.lastStatus).toBeUndefined();

    clock.advance(10_000);
    const before = store.requestCount();
    await store.write('prod', { targets: [{ ...stale, lastStatus: 'held' }] }, { lease: second });
    expect(store.requestCount() - before).toBe(1);
    expect((await store.read('prod')).targets.get('a')?.lastStatus).toBe('held');
    // The write renewed the lease, and the lease knows its new ETag: it can still be renewed and released.
    expect(second.expiresAt).toBe(new Date(clock.now().getTime() + 60_000).toISOString());
    await second.renew(60_000);
    await second.release();
    await expect(store.acquireLease('prod', 'run-c', 60_000)).resolves.toBeDefined();
  });

  it('reports a stale record in a fenced write as a conflict, not as a lost lease', async () => {
    const { store } = await freshStore();
    await store.write('prod', { targets: [emptyTarget('a')] });
    const stale = (await store.read('prod')).targets.get('a')!;
    await store.write('prod', { targets: [{ ...stale, lastStatus: 'ok' }] });
    const lease = await store.acquireLease('prod', 'run-a', 60_000);
    const error = await rejection(store.write('prod', { targets: [{ ...stale, lastStatus: 'error' }] }, { lease }));
    expect(error.code).toBe('state-conflict');
    await lease.renew(60_000);
  });

  it('refuses a lease of another config as a fence', async () => {
    const { store } = await freshStore();
    const lease = await store.acquireLease('staging', 'run-a', 60_000);
    expect((await rejection(store.write('prod', { targets: [emptyTarget('a')] }, { lease }))).code).toBe('invalid-state-change');
  });
});
