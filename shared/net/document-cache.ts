import { AllowlistError, type Problem } from '../problem.js';
import { describe } from './http.js';

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
  const warnings: Problem[] = [];
  return {
    documents: {
      async get(url) {
        const staged = held.get(url);
        if (staged) return staged;
        try {
          return await cache.get(url);
        } catch (error) {
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
    },
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
      held.clear();
      confirmed.clear();
      return warnings;
    },
  };
}

/** SDK messages can carry request URLs (a SAS among them); only this app's own messages are repeated. */
function cacheWarning(what: string, error: unknown): Problem {
  const why = error instanceof AllowlistError ? error.message : `${(error as Error)?.name ?? 'error'} (unexpected)`;
  return { code: 'document-cache', message: `The document cache ${what}: ${why}` };
}
