import { ConfigError, ID_PATTERN } from '../../shared/config.js';
import { AllowlistError } from '../../shared/problem.js';
import { isFingerprint } from '../../shared/state/records.js';

/** Bounds that make abuse cheap to reject before any work starts. */
export const MAX_QUERY_LENGTH = 2048;
export const MAX_TARGET_PARAMS = 50;
export const MAX_BODY_BYTES = 4096;

export class BadRequestError extends AllowlistError {
  constructor(message: string) {
    super('bad-request', message);
  }
}

export class MethodNotAllowedError extends AllowlistError {
  constructor(
    method: string,
    readonly allowed: readonly string[],
  ) {
    super('method-not-allowed', `${method.slice(0, 16)} is not allowed here; use ${allowed.join(' or ')}`);
  }
}

/** The host only routes registered methods, but a handler never relies on that alone. */
export function assertMethod(method: string, allowed: readonly string[]): void {
  if (!allowed.includes(method)) throw new MethodNotAllowedError(method, allowed);
}

/**
 * Reads the only things a check request may say: which config (`config`, once; needed when the app has several) and
 * which of its targets to check. No hostname, URL or file name is ever taken from a request.
 */
export function parseCheckQuery(url: string): { targetIds: string[]; config?: string } {
  const parsed = URL.parse(url);
  if (!parsed) throw new BadRequestError('the request URL is not a valid URL');
  if (parsed.search.length > MAX_QUERY_LENGTH) throw new BadRequestError(`the query string is longer than ${MAX_QUERY_LENGTH} characters`);
  const targetIds: string[] = [];
  let config: string | undefined;
  for (const [name, value] of parsed.searchParams) {
    if (name === 'code') continue; // the function key, checked by the host
    if (name === 'config') {
      config = onlyConfig(config, value);
      continue;
    }
    if (name !== 'target')
      throw new BadRequestError(`unknown query parameter "${truncate(name)}"; only "target" and "config" are accepted`);
    if (!ID_PATTERN.test(value))
      throw new BadRequestError(`"target" must be a configured target id (lowercase letters, digits, dashes), got "${truncate(value)}"`);
    targetIds.push(value);
    if (targetIds.length > MAX_TARGET_PARAMS) throw new BadRequestError(`at most ${MAX_TARGET_PARAMS} "target" parameters are accepted`);
  }
  return { targetIds: [...new Set(targetIds)], ...(config !== undefined ? { config } : {}) };
}

/**
 * Status and doctor take one optional parameter: the config to show or check (status without it: one line per
 * config; doctor without it: the app's only config).
 */
export function parseConfigQuery(url: string, endpoint: 'status' | 'doctor'): { config?: string } {
  const parsed = URL.parse(url);
  if (!parsed) throw new BadRequestError('the request URL is not a valid URL');
  if (parsed.search.length > MAX_QUERY_LENGTH) throw new BadRequestError(`the query string is longer than ${MAX_QUERY_LENGTH} characters`);
  let config: string | undefined;
  for (const [name, value] of parsed.searchParams) {
    if (name === 'code') continue; // the function key, checked by the host
    if (name !== 'config') throw new BadRequestError(`unknown query parameter "${truncate(name)}"; ${endpoint} takes only "config"`);
    config = onlyConfig(config, value);
  }
  return config !== undefined ? { config } : {};
}

/** A config name, given once, in the form every config name has. */
function onlyConfig(earlier: string | undefined, value: string): string {
  if (earlier !== undefined) throw new BadRequestError('"config" may be given once');
  if (!ID_PATTERN.test(value))
    throw new BadRequestError(`"config" must be a config name (lowercase letters, digits, dashes), got "${truncate(value)}"`);
  return value;
}

/** An approval names one configured target, and optionally the fingerprint of the held change the caller was shown. */
export function parseApproveQuery(url: string): { targetId: string; fingerprint?: string; config?: string } {
  const parsed = URL.parse(url);
  if (!parsed) throw new BadRequestError('the request URL is not a valid URL');
  if (parsed.search.length > MAX_QUERY_LENGTH) throw new BadRequestError(`the query string is longer than ${MAX_QUERY_LENGTH} characters`);
  const found: { target?: string[]; fingerprint?: string[] } = {};
  let config: string | undefined;
  for (const [name, value] of parsed.searchParams) {
    if (name === 'code') continue; // the function key, checked by the host
    if (name === 'config') {
      config = onlyConfig(config, value);
      continue;
    }
    if (name !== 'target' && name !== 'fingerprint')
      throw new BadRequestError(`unknown query parameter "${truncate(name)}"; only "target", "fingerprint" and "config" are accepted`);
    (found[name] ??= []).push(value);
  }
  const [targetId, ...moreTargets] = found.target ?? [];
  if (targetId === undefined || moreTargets.length > 0 || !ID_PATTERN.test(targetId))
    throw new BadRequestError('"target" must be given once, as a configured target id (lowercase letters, digits, dashes)');
  const [fingerprint, ...moreFingerprints] = found.fingerprint ?? [];
  if (moreFingerprints.length > 0 || (fingerprint !== undefined && !isFingerprint(fingerprint)))
    throw new BadRequestError('"fingerprint" may be given once, as the 16 hexadecimal digits the report shows under "held"');
  return { targetId, ...(fingerprint !== undefined ? { fingerprint } : {}), ...(config !== undefined ? { config } : {}) };
}

/** What `readBody` needs of a request: HttpRequest from @azure/functions has it, and so does a fetch Request. */
export interface BodySource {
  readonly headers: { get(name: string): string | null };
  readonly body: ReadableStream<Uint8Array> | null;
}

/**
 * The body as text, read only up to `limit` bytes: a larger one is refused from its Content-Length before any byte
 * is read, or, without one (chunked), as soon as the bytes read pass the limit; the rest is never pulled.
 */
export async function readBody(request: BodySource, limit = MAX_BODY_BYTES): Promise<string> {
  const tooLarge = () => new BadRequestError(`the body is larger than ${limit} bytes`);
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > limit) throw tooLarge();
  if (request.body === null) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A POST body is optional; when present it must be a JSON object, and it may list targets too. */
export function parseCheckBody(text: string): { targetIds: string[] } {
  if (text.trim() === '') return { targetIds: [] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadRequestError('the body must be empty or a JSON object such as {"targets": ["outsystems-prod"]}');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequestError('the body must be a JSON object');
  const { targets, ...rest } = value as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new BadRequestError(`unknown body field "${truncate(extra[0]!)}"; only "targets" is accepted`);
  if (targets === undefined) return { targetIds: [] };
  if (!Array.isArray(targets) || targets.length > MAX_TARGET_PARAMS || !targets.every((t) => typeof t === 'string' && ID_PATTERN.test(t))) {
    throw new BadRequestError(`"targets" must be a list of at most ${MAX_TARGET_PARAMS} configured target ids`);
  }
  return { targetIds: [...new Set(targets as string[])] };
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

export interface JsonResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly jsonBody: unknown;
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): JsonResponse {
  return { status, headers: { 'cache-control': 'no-store', ...headers }, jsonBody: body };
}

/** Maps the app's typed errors to HTTP answers; anything unexpected is a 500 with a code, never a stack. */
export function errorResponse(error: unknown): JsonResponse {
  if (error instanceof AllowlistError) {
    const body = { error: { code: error.code, message: error.message } };
    switch (error.code) {
      case 'bad-request':
        return jsonResponse(400, body);
      case 'config-required':
        return jsonResponse(400, body);
      case 'unknown-target':
      case 'unknown-config':
        return jsonResponse(404, body);
      case 'method-not-allowed':
        return jsonResponse(405, body, { allow: (error as MethodNotAllowedError).allowed.join(', ') });
      case 'approve-nothing-held':
      case 'approve-changed':
      case 'approve-refused':
        return jsonResponse(409, body);
      case 'run-in-progress': {
        const retryAfter = (error as AllowlistError & { retryAfterSeconds?: number }).retryAfterSeconds ?? 60;
        return jsonResponse(409, body, { 'retry-after': String(Math.max(1, Math.ceil(retryAfter))) });
      }
      case 'state-unavailable':
        return jsonResponse(503, body, { 'retry-after': '30' });
      case 'config-invalid':
        return jsonResponse(500, {
          error: { code: error.code, message: 'The configuration is not valid', problems: (error as ConfigError).problems },
        });
      default:
        return jsonResponse(500, body);
    }
  }
  return jsonResponse(500, { error: { code: 'internal-error', message: 'The check failed unexpectedly; see the function logs' } });
}
