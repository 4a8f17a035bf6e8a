import { AllowlistError } from '../problem.js';
import { sharedFetch, sharedWork } from './shared-fetch.js';
import type { CachedDocument, DocumentCache } from './document-cache.js';

export interface FetchLimits {
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

export interface FetchOptions extends FetchLimits {
  readonly headers?: Readonly<Record<string, string>>;
  /** Acceptable media types (without parameters); anything else is an error before the body is read. */
  readonly contentTypes: readonly string[];
  readonly signal?: AbortSignal;
  readonly maxRedirects?: number;
}

export interface FetchedText {
  readonly url: string;
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
  /** The validators the server sent, for evidence a reviewer can check against the upstream. */
  readonly etag?: string;
  readonly lastModified?: string;
}

/**
 * GET a text document from an upstream we do not control, with every limit enforced:
 * whole-request timeout (a body that never finishes fails), size cap while streaming,
 * status and media type checked, redirects followed only within the same origin. Inside a run over many configs
 * (shared-fetch.ts), a document is fetched once for all of them.
 */
export function fetchText(url: string, options: FetchOptions): Promise<FetchedText> {
  return sharedFetch(url, options, () =>
    getChecked(url, options, (response, current, contentType) => readText(response, { url: current, contentType, options })),
  );
}

async function readText(
  response: Response,
  read: { readonly url: string; readonly contentType: string; readonly options: FetchLimits },
): Promise<FetchedText> {
  const text = await readCapped(response, read.url, read.options.maxBytes);
  const etag = response.headers.get('etag');
  const lastModified = response.headers.get('last-modified');
  return {
    url: read.url,
    status: response.status,
    contentType: read.contentType,
    text,
    ...(etag ? { etag } : {}),
    ...(lastModified ? { lastModified } : {}),
  };
}

export interface FetchedDocument extends FetchedText {
  /**
   * Set when the server answered 304 Not Modified, or confirmed the copy within `http.reuseWithinSeconds` so no request
   * was sent: `text` is the cached copy, which the server sent in full at this time (ISO 8601) and has confirmed
   * unchanged since. Sources put it in their evidence ("unchanged since").
   */
  readonly unchangedSince?: string;
}

/** A little under the shortest sample schedule (15 minutes), and longer than a fan-out tick with its retries takes. */
export const DEFAULT_REUSE_WITHIN_SECONDS = 300;

/** What fetchDocument needs of a SourceContext (a SourceContext is one). */
export interface DocumentContext {
  /** Never throws: observeTarget hands sources a view that reports cache failures as warnings (see stageDocuments). */
  readonly documents?: DocumentCache;
  readonly now: () => Date;
  /** A SourceContext's config (http.reuseWithinSeconds, default 300); without one, or with 0, every fetch asks the server. */
  readonly config?: { readonly http: { readonly reuseWithinSeconds?: number } };
}

/**
 * fetchText that downloads only what changed, for every source that reads a document over HTTP; one line:
 *
 *     const fetched = await fetchDocument(target.url, fetchOptions, context);
 *
 * With a cached copy of the URL it sends that copy's If-None-Match / If-Modified-Since; a 304 hands back the copy
 * (parse it again: the target's selection or the app may have changed since), with `unchangedSince` set. A 200 with
 * validators is put in the cache, which observeTarget commits only when the target's observation is ok, so a
 * partial or failed read is never reused. A server that sends no validators is read in full every time, as before.
 */
export async function fetchDocument(url: string, options: FetchOptions, context: DocumentContext): Promise<FetchedDocument> {
  const read = await context.documents?.get(url);
  let cached = usableCopy(read, options);
  if (cached && isFresh(cached, context)) return notModified(url, cached);
  if (context.documents?.claim && reuseWindowMs(context) > 0) {
    // Across workers, one fetches and the others wait for its copy (single-flight.ts); inside a run, the configs
    // after the first share its wait as they share its request.
    const wanted = (copy: CachedDocument | undefined) => {
      const usable = usableCopy(copy, options);
      return usable !== undefined && isFresh(usable, context);
    };
    const claim = context.documents.claim.bind(context.documents);
    const turn = { initial: read, wanted, ...(options.signal ? { signal: options.signal } : {}) };
    cached = usableCopy(
      await sharedWork(['turn', url, reuseWindowMs(context), options.contentTypes, options.maxBytes], options, () => claim(url, turn)),
      options,
    );
    if (cached && isFresh(cached, context)) return notModified(url, cached);
  }
  const conditional = cached ? conditionalHeaders(cached) : {};
  const headers = { ...options.headers, ...conditional };
  // Inside a run over many configs the conditional request too is made once (shared-fetch.ts).
  const fetched: FetchedDocument = await sharedFetch(url, { ...options, headers }, () =>
    getChecked(
      url,
      { ...options, headers },
      (response, current, contentType) => readText(response, { url: current, contentType, options }),
      (current): FetchedDocument => {
        if (!cached || Object.keys(conditional).length === 0) {
          throw new AllowlistError(
            'http-not-modified',
            `${describe(current)} answered 304 Not Modified to a request that named no cached copy; the server or a proxy between is misbehaving`,
          );
        }
        return notModified(current, cached);
      },
    ),
  );
  if (fetched.status === 304 && cached) {
    // Records the confirmation only (no body write), so other configs and workers skip the request for a while.
    await context.documents?.confirm?.(url, context.now().toISOString());
  }
  // A copy without a validator worth sending could never be asked about: it is not kept.
  if (fetched.status !== 304 && Object.keys(conditionalHeaders(fetched)).length > 0) {
    const copy: CachedDocument = {
      url,
      text: fetched.text,
      contentType: fetched.contentType,
      ...validators(fetched),
      validatedAt: context.now().toISOString(),
    };
    await context.documents?.put(copy);
  }
  return fetched;
}

function notModified(url: string, cached: CachedDocument): FetchedDocument {
  return {
    url,
    status: 304,
    contentType: cached.contentType,
    text: cached.text,
    ...validators(cached),
    unchangedSince: cached.validatedAt,
  };
}

/**
 * The server confirmed the copy (a full read or a 304) less than http.reuseWithinSeconds ago: asking again now would
 * cost one request per config and worker of the tick for an answer just given. A confirmation in the future (a clock
 * or a tampered blob) is not trusted.
 */
export function isFresh(cached: Pick<CachedDocument, 'validatedAt' | 'confirmedAt'>, context: DocumentContext): boolean {
  const window = reuseWindowMs(context);
  if (window <= 0) return false;
  const confirmed = Math.max(Date.parse(cached.validatedAt), Date.parse(cached.confirmedAt ?? '') || -Infinity);
  const age = context.now().getTime() - confirmed;
  return Number.isFinite(age) && age >= 0 && age < window;
}

/** How long a confirmed copy stands in for a request: not at all without a config. */
function reuseWindowMs(context: DocumentContext): number {
  return context.config ? (context.config.http.reuseWithinSeconds ?? DEFAULT_REUSE_WITHIN_SECONDS) * 1_000 : 0;
}

/** A copy this request could have downloaded: of an accepted type and within the size limit (both may have changed). */
function usableCopy(cached: CachedDocument | undefined, options: FetchOptions): CachedDocument | undefined {
  if (!cached || !options.contentTypes.includes(cached.contentType)) return undefined;
  return Buffer.byteLength(cached.text, 'utf8') <= options.maxBytes ? cached : undefined;
}

function validators(from: Pick<FetchedText, 'etag' | 'lastModified'>): Pick<FetchedText, 'etag' | 'lastModified'> {
  return { ...(from.etag ? { etag: from.etag } : {}), ...(from.lastModified ? { lastModified: from.lastModified } : {}) };
}

/** Printable ASCII, as a header value must be; anything else a server or a tampered cache sent is not sent back. */
const HEADER_VALUE = /^[\x21-\x7e](?:[\x20-\x7e]{0,1022}[\x21-\x7e])?$/;

/** The validators worth sending: an ETag as the server wrote it, a Last-Modified only when it is a date. */
export function conditionalHeaders(cached: Pick<CachedDocument, 'etag' | 'lastModified'>): Record<string, string> {
  const headers: Record<string, string> = {};
  if (cached.etag !== undefined && HEADER_VALUE.test(cached.etag)) headers['if-none-match'] = cached.etag;
  if (cached.lastModified !== undefined && HEADER_VALUE.test(cached.lastModified) && Number.isFinite(Date.parse(cached.lastModified)))
    headers['if-modified-since'] = cached.lastModified;
  return headers;
}

/** What an upstream answered to a GET, without its body. */
export interface ProbedUrl {
  readonly url: string;
  readonly status: number;
  readonly contentType: string;
  /** The Content-Length the server declared, if any. */
  readonly declaredBytes?: number;
}

/**
 * Everything fetchText checks before reading the body (reachable, status, redirects within the origin, media type,
 * declared size), then cancels the body: one request per hop and no download. HEAD is not used because servers
 * answer it differently from GET often enough (no content type, 403, 405) to make a working URL look broken.
 */
export function probeUrl(url: string, options: FetchOptions): Promise<ProbedUrl> {
  return getChecked(url, options, async (response, current, contentType) => {
    await response.body?.cancel();
    const declared = Number(response.headers.get('content-length') ?? NaN);
    return { url: current, status: response.status, contentType, ...(Number.isFinite(declared) ? { declaredBytes: declared } : {}) };
  });
}

/** The request part of fetchText: hands `consume` a 2xx response of an accepted media type and no declared oversize. */
async function getChecked<T>(
  url: string,
  options: FetchOptions,
  consume: (response: Response, current: string, contentType: string) => Promise<T>,
  notModified?: (current: string) => T,
): Promise<T> {
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
  const origin = new URL(url).origin;
  let current = url;
  try {
    for (let hop = 0; ; hop++) {
      const response = await fetch(current, {
        method: 'GET',
        headers: { 'user-agent': 'allowlist-drift', ...options.headers },
        redirect: 'manual',
        signal,
      });
      if (response.status === 304 && notModified) {
        await response.body?.cancel();
        return notModified(current);
      }
      if (response.status >= 300 && response.status < 400) {
        await response.body?.cancel();
        const location = response.headers.get('location');
        if (!location) throw new AllowlistError('http-status', `${describe(current)} answered ${response.status} without a Location`);
        const next = new URL(location, current);
        if (next.origin !== origin) {
          throw new AllowlistError('http-redirect', `${describe(current)} redirected to another host (${next.origin}); refusing to follow`);
        }
        if (hop >= (options.maxRedirects ?? 3)) throw new AllowlistError('http-redirect', `${describe(url)}: too many redirects`);
        current = next.href;
        continue;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new AllowlistError('http-status', `${describe(current)} answered HTTP ${response.status}`);
      }
      const contentType = (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (!options.contentTypes.includes(contentType)) {
        await response.body?.cancel();
        throw new AllowlistError(
          'http-content-type',
          `${describe(current)} returned "${contentType || 'no content type'}", expected ${options.contentTypes.join(' or ')}`,
        );
      }
      const declared = Number(response.headers.get('content-length') ?? NaN);
      if (declared > options.maxBytes) {
        await response.body?.cancel();
        throw tooLarge(current, options.maxBytes);
      }
      return await consume(response, current, contentType);
    }
  } catch (error) {
    if (error instanceof AllowlistError) throw error;
    if (deadline.aborted)
      throw new AllowlistError('http-timeout', `${describe(current)} did not answer completely within ${options.timeoutMs} ms`);
    if (options.signal?.aborted) throw new AllowlistError('aborted', `fetching ${describe(current)} was cancelled`);
    throw new AllowlistError('http-network', `${describe(current)} could not be reached: ${networkReason(error)}`);
  }
}

async function readCapped(response: Response, url: string, maxBytes: number): Promise<string> {
  if (!response.body) return '';
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const parts: string[] = [];
  let received = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.byteLength;
    if (received > maxBytes) {
      await reader.cancel();
      throw tooLarge(url, maxBytes);
    }
    try {
      parts.push(decoder.decode(value, { stream: true }));
    } catch {
      await reader.cancel();
      throw new AllowlistError('http-encoding', `${describe(url)} is not valid UTF-8 text`);
    }
  }
  parts.push(decoder.decode());
  return parts.join('');
}

function tooLarge(url: string, maxBytes: number): AllowlistError {
  return new AllowlistError('http-too-large', `${describe(url)} is larger than the ${maxBytes}-byte limit (http.maxBytes)`);
}

/** URLs in messages lose any query string and credentials, which may carry tokens. */
export function describe(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? 'unknown error';
}
