import { describe, expect, it } from 'vitest';
import { recentRead } from '../shared/recent-read.js';

/** The queue worker's reuse of a container listing (functions/lib/runtime.ts), with a clock the test moves. */

function counted(options: { maxAgeMs?: number; fail?: () => boolean } = {}) {
  let clock = Date.parse('2026-12-07T21:00:05.000Z');
  let reads = 0;
  const get = recentRead(
    async () => {
      reads += 1;
      if (options.fail?.()) throw new Error('the container could not be read');
      return `listing ${reads}`;
    },
    { maxAgeMs: options.maxAgeMs ?? 30_000, now: () => clock },
  );
  return {
    get,
    reads: () => reads,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

const tick = new Date('2026-12-07T21:00:00.000Z');

describe('recentRead', () => {
  it('the messages of one tick share one read, those handled at once too', async () => {
    const { get, reads, advance } = counted();
    expect(await Promise.all([get(tick), get(tick), get(tick), get(tick)])).toEqual(Array(4).fill('listing 1'));
    for (let i = 0; i < 96; i += 1) {
      advance(200);
      expect(await get(tick)).toBe('listing 1');
    }
    expect(reads()).toBe(1);
  });

  it('reads again once the last read is maxAgeMs old, even within one tick', async () => {
    const { get, reads, advance } = counted();
    await get(tick);
    advance(29_999);
    expect(await get(tick)).toBe('listing 1');
    advance(1);
    expect(await get(tick)).toBe('listing 2');
    expect(reads()).toBe(2);
  });

  it('a message of a later tick reads again at once: an edit made before that tick is seen', async () => {
    const { get, advance } = counted();
    await get(tick);
    advance(1_000);
    expect(await get(new Date(tick.getTime() + 5_500))).toBe('listing 2');
    // The messages of the earlier tick (a deferred copy) are served by the newer read.
    expect(await get(tick)).toBe('listing 2');
  });

  it('a read that started before the tick is not the tick listing (a worker clock behind the timer): read again', async () => {
    const { get } = counted();
    const ahead = new Date(tick.getTime() + 60_000);
    expect(await get(ahead)).toBe('listing 1');
    expect(await get(ahead)).toBe('listing 2');
  });

  it('a failed read is not kept: the next call reads again', async () => {
    let failing = true;
    const { get, reads } = counted({ fail: () => failing });
    await expect(get(tick)).rejects.toThrow('the container could not be read');
    failing = false;
    expect(await get(tick)).toBe('listing 2');
    expect(reads()).toBe(2);
  });
});
