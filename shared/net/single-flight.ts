import { setTimeout as sleep } from 'node:timers/promises';
import type { CachedDocument, TurnWanted } from './document-cache.js';

/** How often a waiting worker looks again: a claimant's copy is used within half a second of being written. */
const POLL_MS = 500;

/** What awaitTurn needs of the store, through one observation's view of it (stageDocuments). */
export interface TurnStore {
  /**
   * The URL's claim: `mine` (taken now, or already held by this observation), `theirs` (another worker holds it) or
   * `unusable` (the store could not lease; the view has said why).
   */
  take(url: string): Promise<'mine' | 'theirs' | 'unusable'>;
  /** Never throws: a copy that cannot be read is no copy. */
  read(url: string): Promise<CachedDocument | undefined>;
  /** The longest another worker's claim is waited for: its lease, and a look after the lease lapsed. */
  readonly waitMs: number;
  /** The wait ran out with the claim still held (a lease someone keeps renewing, or one taken outside this app). */
  gaveUp(url: string): void;
}

/**
 * Cross-worker single flight for one URL ("each upstream document once per tick, however many workers run"). The
 * worker that takes the URL's claim fetches; every other one waits for the copy the claimant's observation writes when
 * it settles and uses that copy without a request. A claim released with no fresh copy (the claimant's read failed or
 * was partial, so nothing was kept), a claim that lapsed (its worker died), a wait that ran out and a claim that
 * cannot be taken all end alike: this worker fetches itself. The wait is bounded and never fails a run.
 *
 * Resolves to the copy as last read; the caller judges it again (fresh: use it; otherwise its validators go with the
 * request). Polls with the wall clock: the run's `now` stamps documents and may stand still in tests.
 */
export async function awaitTurn(url: string, store: TurnStore, turn: TurnWanted): Promise<CachedDocument | undefined> {
  const deadline = Date.now() + store.waitMs;
  let copy = turn.initial;
  for (;;) {
    const claim = await store.take(url);
    if (claim === 'unusable') return copy;
    // Read after taking: a claimant writes its copy before it releases, so a copy written meanwhile is seen here.
    if (claim === 'mine') return store.read(url);
    if (turn.signal?.aborted) return copy;
    if (Date.now() >= deadline) {
      store.gaveUp(url);
      return copy;
    }
    await sleep(POLL_MS);
    copy = await store.read(url);
    if (turn.wanted(copy)) return copy;
  }
}

/** Two looks at the lease after it lapses: a dead worker's claim delays the others by its lease and no more. */
export function waitFor(leaseSeconds: number): number {
  return leaseSeconds * 1_000 + 2 * POLL_MS;
}
