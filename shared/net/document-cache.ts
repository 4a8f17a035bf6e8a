import { AllowlistError, type Problem } from '../problem.js';
import { describe } from './http.js';
import { awaitTurn, waitFor, type TurnStore } from './single-flight.js';

/**
 * The last complete read of an upstream document, kept per URL so a later run can ask the server whether it changed
 * (If-None-Match / If-Modified-Since) and, on 304, parse this copy instead of downloading it again. Per URL and not
 * per target or config, so every config of an app that watches one document shares one copy.
 */
export interface CachedDocument {
  readonly url: string;
  readonly text: string;
  readonly contentType: string;
  readonly etag?: string;
  readonly lastModified?: string;
  /**
   * When the server sent this copy in full (the 200 that downloaded it), ISO 8601. A 304 leaves the copy as it was,
   * so a later read can say the document is "unchanged since" then.
   */
  readonly validatedAt: string;
  /** When the server last confirmed this copy (a 304, ISO 8601), if later than validatedAt; see http.reuseWithinSeconds. */
  readonly confirmedAt?: string;
}

/** Where cached documents live (Blob Storage in a deployment); a read or write failure is the caller's to report, never fatal. */
export interface DocumentCache {
  get(url: string): Promise<CachedDocument | undefined>;
  put(document: CachedDocument): Promise<void>;
  /** Records that the server confirmed the stored copy of `url` at `at` without rewriting its body (cheap; optional). */
  confirm?(url: string, at: string): Promise<void>;
  /** A store shared by several workers (Blob Storage) has these: the claims of single-flight.ts. */
  readonly leases?: DocumentLeases;
  /**
   * The view of one observation only (stageDocuments), over a store with leases: waits until this worker may fetch
   * `url` (see single-flight.ts) and resolves to the copy as last read, which another worker may just have refreshed.
   * Never throws; a claim this worker took is released when the observation settles, after its copy is written.
   */
  claim?(url: string, turn: TurnWanted): Promise<CachedDocument | undefined>;
}

/** Per-URL leases that keep workers from fetching one document at once; a lease never released lapses by itself. */
export interface DocumentLeases {
  /** How long a lease lasts unless released (Blob Storage: 15 to 60 s): the longest a dead worker's claim holds. */
  readonly seconds: number;
  /** The lease on `url`, or undefined when another worker holds it; throws when leases cannot be used. */
  take(url: string): Promise<DocumentLease | undefined>;
}

export interface DocumentLease {
  release(): Promise<void>;
}

/** What a claimant waits for: a copy `wanted` accepts (fresh enough to use), starting from the copy it read. */
export interface TurnWanted {
  readonly initial: CachedDocument | undefined;
  readonly wanted: (copy: CachedDocument | undefined) => boolean;
  /** A fetch its caller may cancel stops waiting when cancelled. */
  readonly signal?: AbortSignal;
}

/** The cache as one target's observation uses it, and what became of it. */
export interface StagedDocuments {
  /** Never throws: a copy that cannot be read is no copy (the document is downloaded in full); puts are held. */
  readonly documents: DocumentCache;
  /**
   * Puts the held copies when the observation made from them is `ok` (only a complete read is reused), drops them
   * otherwise; returns warnings for every read or write of the cache that failed.
   */
  settle(ok: boolean): Promise<Problem[]>;
}

/**
 * One target's view of the cache. Holding puts until the observation is judged keeps a page that parsed but read
 * partially, or failed, from being answered with a 304 next time and reused as if it were whole.
 */
export function stageDocuments(cache: DocumentCache): StagedDocuments {
  const held = new Map<string, CachedDocument>();
  const confirmed = new Map<string, string>();
  const claims = new Map<string, DocumentLease>();
  /** URLs whose copy could not be read: the store is not usable for them, and one warning says so. */
  const unreadable = new Set<string>();
  const warnings: Problem[] = [];
  const documents: DocumentCache = {
    async get(url) {
      const staged = held.get(url);
      if (staged) return staged;
      try {
        return await cache.get(url);
      } catch (error) {
        unreadable.add(url);
        warnings.push(cacheWarning(`could not be read for ${describe(url)}, so the document was downloaded in full`, error));
        return undefined;
      }
    },
    async put(document) {
      held.set(document.url, document);
    },
    async confirm(url, at) {
      confirmed.set(url, at);
    },
  };
  const leases = cache.leases;
  if (leases) {
    const store: TurnStore = {
      async take(url) {
        if (claims.has(url)) return 'mine';
        if (unreadable.has(url)) return 'unusable';
        try {
          const lease = await leases.take(url);
          if (!lease) return 'theirs';
          claims.set(url, lease);
          return 'mine';
        } catch (error) {
          warnings.push(
            cacheWarning(
              `could not take the claim that keeps workers from fetching ${describe(url)} at once, so it was fetched without waiting for the others`,
              error,
            ),
          );
          return 'unusable';
        }
      },
      read: (url) => documents.get(url),
      waitMs: waitFor(leases.seconds),
      gaveUp(url) {
        warnings.push({
          code: 'document-cache',
          message: `The document cache waited ${Math.round(waitFor(leases.seconds) / 1_000)} s for another worker's read of ${describe(url)}, whose claim stayed held, so it was fetched here too`,
        });
      },
    };
    documents.claim = (url, turn) => awaitTurn(url, store, turn);
  }
  return {
    documents,
    async settle(ok) {
      if (ok) {
        for (const document of held.values()) {
          try {
            await cache.put(document);
          } catch (error) {
            warnings.push(cacheWarning(`could not keep ${describe(document.url)}, so the next run downloads it in full again`, error));
          }
        }
        for (const [url, at] of confirmed) {
          if (held.has(url) || !cache.confirm) continue;
          try {
            await cache.confirm(url, at);
          } catch (error) {
            warnings.push(
              cacheWarning(`could not record that ${describe(url)} was unchanged, so the next run asks the server again`, error),
            );
          }
        }
      }
      // Released only now, after the copy (or the 304's confirmation) is written: a worker waiting on the claim finds
      // that copy when it may look again. Released without one when the observation is not ok: it then fetches itself.
      for (const [url, lease] of claims) {
        try {
          await lease.release();
        } catch (error) {
          warnings.push(
            cacheWarning(
              `could not release the claim on ${describe(url)}, so other workers wait for it to lapse (within ${leases?.seconds} s)`,
              error,
            ),
          );
        }
      }
      held.clear();
      confirmed.clear();
      claims.clear();
      return warnings;
    },
  };
}

/** SDK messages can carry request URLs (a SAS among them); only this app's own messages are repeated. */
function cacheWarning(what: string, error: unknown): Problem {
  const why = error instanceof AllowlistError ? error.message : `${(error as Error)?.name ?? 'error'} (unexpected)`;
  return { code: 'document-cache', message: `The document cache ${what}: ${why}` };
}
