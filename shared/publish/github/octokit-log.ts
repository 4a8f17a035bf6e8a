import type { Log } from '../../log.js';
import { redact } from './auth.js';

/** What Octokit, its plugins and its auth strategy call to log. */
export interface OctokitLogger {
  debug(message: string, ...rest: unknown[]): void;
  info(message: string, ...rest: unknown[]): void;
  warn(message: string, ...rest: unknown[]): void;
  error(message: string, ...rest: unknown[]): void;
}

/** The line @octokit/plugin-request-log writes for every answer, failed ones at error: `POST /repos/o/r/git/refs - 422 with id … in 12ms`. */
const REQUEST_LINE = /^[A-Z]+ \S+ - \S+ with id \S+ in \d+ms$/;

/**
 * Routes Octokit's own logging through ours. Its request log would print every failed request at error level, yet
 * each failure also reaches our code as an exception, which either becomes a problem with its context (logged and
 * reported at error by the run) or is expected (a 422 for a branch that already exists): so those lines are debug,
 * with the rest of its chatter. Its other warnings and errors (a deprecated endpoint, a clock skew with GitHub, a
 * failing rate-limit handler) are warnings. Only the message is kept: Octokit's extra arguments are request
 * options, headers with credentials included.
 */
export function octokitLogger(log: Log, secrets: readonly string[]): OctokitLogger {
  const say = (level: Parameters<Log>[0], message: unknown) => log(level, redact(String(message), secrets));
  return {
    debug: (message) => say('debug', message),
    info: (message) => say('debug', message),
    warn: (message) => say('warn', message),
    error: (message) => say(REQUEST_LINE.test(String(message)) ? 'debug' : 'warn', message),
  };
}
