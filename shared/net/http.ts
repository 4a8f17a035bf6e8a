import { AllowlistError } from '../problem.js';
import { sharedFetch } from './shared-fetch.js';

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
  return sharedFetch(url, options, () => fetchTextOnce(url, options));
}

function fetchTextOnce(url: string, options: FetchOptions): Promise<FetchedText> {
  return getChecked(url, options, async (response, current, contentType) => {
    const text = await readCapped(response, current, options.maxBytes);
    const etag = response.headers.get('etag');
    const lastModified = response.headers.get('last-modified');
    return {
      url: current,
      status: response.status,
      contentType,
      text,
      ...(etag ? { etag } : {}),
      ...(lastModified ? { lastModified } : {}),
    };
  });
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
