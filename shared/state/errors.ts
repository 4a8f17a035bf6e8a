import { AllowlistError } from '../problem.js';

/** Someone else changed or created the same record since it was read: re-read and decide again, never overwrite. */
export class StateConflictError extends AllowlistError {
  constructor(message: string) {
    super('state-conflict', message);
    this.name = 'StateConflictError';
  }
}

/** The table could not be reached or answered with an error; nothing is known about the state. */
export class StateUnavailableError extends AllowlistError {
  constructor(message: string) {
    super('state-unavailable', message);
    this.name = 'StateUnavailableError';
  }
}

/** A stored row cannot be decoded; it is reported rather than skipped, because skipping would forget a baseline. */
export class StateCorruptError extends AllowlistError {
  constructor(
    readonly rowKey: string,
    why: string,
  ) {
    super(
      'state-corrupt',
      `State row "${rowKey}" cannot be read (${why}). Fix or delete the row; deleting a target row makes the next run propose its whole set again.`,
    );
    this.name = 'StateCorruptError';
  }
}

export class StateTooLargeError extends AllowlistError {
  constructor(message: string) {
    super('state-too-large', message);
    this.name = 'StateTooLargeError';
  }
}

/** Another run holds the lease; it is not an error of this run, so callers usually skip and retry later. */
export class LeaseBusyError extends AllowlistError {
  constructor(
    readonly holder: string,
    readonly expiresAt: string,
    readonly retryAfterSeconds: number,
  ) {
    super('run-in-progress', `Another run (${holder}) holds the lease until ${expiresAt}; retry in ${retryAfterSeconds} s.`);
    this.name = 'LeaseBusyError';
  }
}

export class LeaseLostError extends AllowlistError {
  constructor(holder: string) {
    super('lease-lost', `The lease of ${holder} expired and was taken over by another run; this run must stop writing.`);
    this.name = 'LeaseLostError';
  }
}

/** The shape of the SDK's RestError, checked structurally because bundled copies of core-rest-pipeline may differ. */
export interface StorageFailure {
  readonly statusCode?: number;
  readonly code?: string;
  readonly message: string;
}

export function asStorageFailure(error: unknown): StorageFailure | undefined {
  if (!(error instanceof Error) || error.name !== 'RestError') return undefined;
  const { statusCode, code } = error as Error & { statusCode?: unknown; code?: unknown };
  return {
    message: error.message,
    ...(typeof statusCode === 'number' ? { statusCode } : {}),
    ...(typeof code === 'string' ? { code } : {}),
  };
}

/** True when the service refused a conditional operation because another writer got there first. */
export function isLostRace(error: unknown): boolean {
  const status = asStorageFailure(error)?.statusCode;
  return status === 409 || status === 412;
}

export function statusOf(error: unknown): number | undefined {
  return asStorageFailure(error)?.statusCode;
}

/**
 * Builds a StateUnavailableError from whatever the SDK threw. The SDK's messages can echo request URLs
 * (with SAS tokens) and connection strings, so only the status, the error code and a scrubbed message are kept,
 * and the original error is not attached as cause.
 */
export function unavailable(action: string, endpointHost: string, error: unknown, secrets: readonly string[]): StateUnavailableError {
  const failure = asStorageFailure(error);
  const detail = failure
    ? [failure.statusCode !== undefined ? `HTTP ${failure.statusCode}` : undefined, failure.code, firstLine(failure.message)]
    : [error instanceof Error ? firstLine(error.message) : String(error)];
  const text = detail.filter((part): part is string => Boolean(part)).join(', ');
  return new StateUnavailableError(scrubSecrets(`Table storage at ${endpointHost} failed to ${action}: ${text}`, secrets));
}

const SECRET_PATTERNS = [/(AccountKey=)[^;]*/gi, /(SharedAccessSignature=)[^;]*/gi, /([?&]sig=)[^&\s;]*/gi];

export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let scrubbed = text;
  for (const secret of secrets) {
    if (secret.length >= 8) scrubbed = scrubbed.split(secret).join('***');
  }
  for (const pattern of SECRET_PATTERNS) scrubbed = scrubbed.replace(pattern, '$1***');
  return scrubbed;
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
