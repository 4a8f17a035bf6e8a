// ALLOWLIST_LEASE_SECONDS: how long a run's lease on its config lasts, read once where the Functions start runs.
import { AllowlistError } from '../problem.js';
import { DEFAULT_LEASE_TTL_MS } from './context.js';

export const DEFAULT_LEASE_SECONDS = DEFAULT_LEASE_TTL_MS / 1000;
/** Below a few seconds a live run's lease could lapse between two of its writes; above an hour a dead run blocks its config too long. */
export const MIN_LEASE_SECONDS = 5;
export const MAX_LEASE_SECONDS = 3600;

/**
 * The lease length in milliseconds. Production keeps it above the function timeout (host.json functionTimeout, 10
 * minutes), so that only a dead run's lease ever expires; a shorter one lets a test see a killed worker's config
 * taken over in seconds.
 */
export function leaseTtlMsFromEnv(env: Readonly<Record<string, string | undefined>>): number {
  const text = env.ALLOWLIST_LEASE_SECONDS?.trim();
  if (!text) return DEFAULT_LEASE_TTL_MS;
  const seconds = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(seconds >= MIN_LEASE_SECONDS && seconds <= MAX_LEASE_SECONDS)) {
    throw new AllowlistError(
      'lease-seconds-invalid',
      `ALLOWLIST_LEASE_SECONDS ${JSON.stringify(text.slice(0, 40))} is not a lease length: a whole number of seconds from ${MIN_LEASE_SECONDS} to ${MAX_LEASE_SECONDS} (default ${DEFAULT_LEASE_SECONDS}, longer than the 10-minute function timeout)`,
    );
  }
  return seconds * 1000;
}
