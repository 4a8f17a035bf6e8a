import { AsyncLocalStorage } from 'node:async_hooks';
import type { FetchedText, FetchOptions } from './http.js';

/**
 * One run over many configs (a timer tick, `check --config-dir`) reads each upstream document once: the first config
 * that asks for a URL fetches it and every other config of the run is handed the same answer (or the same error).
 * The share lives as long as the run that opened it, in memory only; nothing outlives it, so the next run fetches
 * afresh. Across runs and workers, the Blob document cache (issue 25) is what shares.
 */
const share = new AsyncLocalStorage<Map<string, Promise<unknown>>>();

/** Runs `work` with a share of its own: fetches made anywhere inside it, by any config, are made once per key. */
export function withSharedFetches<T>(work: () => Promise<T>): Promise<T> {
  return share.run(new Map(), work);
}

/**
 * The fetch of `url` with these options, once per share. A fetch that the caller may abort (a signal) is not shared,
 * since one caller's abort would end the others' read; outside a share every call fetches.
 */
export function sharedFetch<Fetched extends FetchedText>(
  url: string,
  options: FetchOptions,
  fetch: () => Promise<Fetched>,
): Promise<Fetched> {
  // Everything that changes the answer or how it is checked is in the key: a token header, limits, media types.
  // One key is always fetched by one function (fetchText or fetchDocument), so the stored answer has its type.
  return sharedWork(
    [url, options.headers ?? {}, options.timeoutMs, options.maxBytes, options.contentTypes, options.maxRedirects ?? null],
    options,
    fetch,
  );
}

/**
 * Other work on the way to a fetch (waiting for another worker's copy), once per share and key, under the same rule:
 * not shared when the caller may abort it. A key names its kind first; a fetch's key starts with its URL.
 */
export function sharedWork<T>(key: readonly unknown[], options: Pick<FetchOptions, 'signal'>, work: () => Promise<T>): Promise<T> {
  const done = share.getStore();
  if (!done || options.signal) return work();
  const name = JSON.stringify(key);
  let found = done.get(name) as Promise<T> | undefined;
  if (!found) {
    found = work();
    done.set(name, found);
  }
  return found;
}
