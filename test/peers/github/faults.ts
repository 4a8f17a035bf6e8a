import { validationFailed, type Reply } from './replies.js';

/** Faults a test injects: what the next matching requests answer instead of (or after) the real operation. */

export interface FaultMatch {
  method?: string;
  /** Exact decoded route below the API root ("/repos/o/r/pulls"), or a pattern. */
  route?: string | RegExp;
}

export interface FaultResponse {
  status: number;
  headers?: Record<string, string>;
  /** Objects are sent as JSON; strings as-is with `contentType`. */
  body?: unknown;
  contentType?: string;
}

export interface FaultOptions {
  /** How many matching requests fail (default 1). */
  times?: number;
  /** Run the real operation first and then answer with the fault: a response lost after the change happened. */
  afterHandling?: boolean;
}

/** A registered fault and how many more requests it answers. */
export interface Fault {
  match: FaultMatch;
  response: FaultResponse;
  remaining: number;
  afterHandling: boolean;
}

export const faults = {
  serverError: (): FaultResponse => ({ status: 502, body: { message: 'Server Error' } }),
  rateLimited: (resetInSeconds: number): FaultResponse => ({
    status: 403,
    headers: {
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + resetInSeconds),
    },
    body: {
      message: 'API rate limit exceeded for installation ID 1.',
      documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
    },
  }),
  secondaryRateLimit: (retryAfterSeconds: number): FaultResponse => ({
    status: 403,
    headers: { 'retry-after': String(retryAfterSeconds) },
    body: {
      message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
      documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits',
    },
  }),
  pullRequestExists: (owner: string, branch: string): FaultResponse =>
    validationFailed(`A pull request already exists for ${owner}:${branch}.`),
  conflict: (): FaultResponse => ({ status: 409, body: { message: 'Reference update conflict' } }),
  html: (status = 200): FaultResponse => ({
    status,
    body: '<!DOCTYPE html><html><body><h1>Unicorn!</h1></body></html>',
    contentType: 'text/html; charset=utf-8',
  }),
};

/** Faults, and actions of people on GitHub, waiting for the requests they match. */
export class FaultQueue {
  private readonly pending: Fault[] = [];
  private readonly interleaved: Array<{ match: FaultMatch; action: () => void }> = [];

  add(match: FaultMatch | string, response: FaultResponse, options: FaultOptions = {}): void {
    const parsed = typeof match === 'string' ? parseMatch(match) : match;
    this.pending.push({ match: parsed, response, remaining: options.times ?? 1, afterHandling: options.afterHandling ?? false });
  }

  onNext(match: FaultMatch | string, action: () => void): void {
    this.interleaved.push({ match: typeof match === 'string' ? parseMatch(match) : match, action });
  }

  /** Runs the action due before this request, then takes the fault it meets, if any. */
  take(record: { method: string; route: string }): Fault | undefined {
    const due = this.interleaved.findIndex((entry) => matches(entry.match, record.method, record.route));
    if (due !== -1) this.interleaved.splice(due, 1)[0]!.action();
    const fault = this.pending.find((f) => f.remaining > 0 && matches(f.match, record.method, record.route));
    if (fault) fault.remaining -= 1;
    return fault;
  }
}

export function faultReply(response: FaultResponse): Reply {
  return { status: response.status, body: response.body, headers: response.headers, contentType: response.contentType };
}

export function parseMatch(text: string): FaultMatch {
  const [method, route] = text.split(' ');
  return route === undefined ? { route: method } : { method, route };
}

export function matches(match: FaultMatch, method: string, route: string): boolean {
  if (match.method !== undefined && match.method.toUpperCase() !== method) return false;
  if (match.route === undefined) return true;
  return typeof match.route === 'string' ? match.route === route : match.route.test(route);
}
