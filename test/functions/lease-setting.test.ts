import { describe, expect, inject, it } from 'vitest';
import { createRuntime } from '../../functions/lib/runtime.js';
import { DEFAULT_LEASE_TTL_MS } from '../../shared/engine/context.js';
import { leaseTtlMsFromEnv } from '../../shared/engine/lease-setting.js';
import { rejection, rejectionSync } from '../support.js';

/**
 * ALLOWLIST_LEASE_SECONDS, read once where the Functions start runs (functions/lib/runtime.ts). That the worker takes
 * its lease for this long is shown by test/engine/queue-workers.test.ts, where a killed worker's config is finished
 * within seconds.
 */

describe('ALLOWLIST_LEASE_SECONDS', () => {
  it('defaults to 11 minutes, longer than the 10-minute function timeout', () => {
    expect(leaseTtlMsFromEnv({})).toBe(DEFAULT_LEASE_TTL_MS);
    expect(leaseTtlMsFromEnv({ ALLOWLIST_LEASE_SECONDS: '  ' })).toBe(660_000);
    expect(DEFAULT_LEASE_TTL_MS).toBeGreaterThan(10 * 60 * 1000);
  });

  it('takes whole seconds from 5 to 3600', () => {
    expect(leaseTtlMsFromEnv({ ALLOWLIST_LEASE_SECONDS: '5' })).toBe(5_000);
    expect(leaseTtlMsFromEnv({ ALLOWLIST_LEASE_SECONDS: ' 900 ' })).toBe(900_000);
    expect(leaseTtlMsFromEnv({ ALLOWLIST_LEASE_SECONDS: '3600' })).toBe(3_600_000);
    expect(leaseTtlMsFromEnv({ ALLOWLIST_LEASE_SECONDS: '0060' })).toBe(60_000);
  });

  it('anything else is a clear config error naming the setting', () => {
    const garbage = ['4', '0', '3601', '-10', '1.5', '1e3', '10s', 'abc', '0x20', 'Infinity', 'NaN', '99999999', '６０', 'x'.repeat(500)];
    for (const value of garbage) {
      const error = rejectionSync(() => leaseTtlMsFromEnv({ ALLOWLIST_LEASE_SECONDS: value }));
      expect(error.code, value).toBe('lease-seconds-invalid');
      expect(error.message, value).toMatch(
        /^ALLOWLIST_LEASE_SECONDS ".{1,40}" is not a lease length: a whole number of seconds from 5 to 3600 /,
      );
    }
  });

  it('is checked when the Functions runtime starts, before any run', async () => {
    const env = {
      ALLOWLIST_CONFIG: JSON.stringify({ name: 'dmz', targets: [{ id: 'p', type: 'static', entries: ['20.60.1.5'] }] }),
      ALLOWLIST_STORAGE: inject('azuriteConnectionString'),
      ALLOWLIST_LEASE_SECONDS: 'ten minutes',
    };
    expect((await rejection(createRuntime(env))).code).toBe('lease-seconds-invalid');
    expect((await createRuntime({ ...env, ALLOWLIST_LEASE_SECONDS: '15' })).leaseTtlMs).toBe(15_000);
  });
});
