import { TableClient } from '@azure/data-tables';
import { HttpRequest, InvocationContext } from '@azure/functions';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { checkHandler } from '../../functions/check.js';
import { createRuntime, resetSharedRuntime } from '../../functions/lib/runtime.js';
import { runQueuedCheck } from '../../functions/runs.js';
import { DEFAULT_LEASE_TTL_MS } from '../../shared/engine/context.js';
import { leaseTtlMsFromEnv } from '../../shared/engine/lease-setting.js';
import { LEASE_ROW_KEY, partitionKeyFor } from '../../shared/state/keys.js';
import { startGitHubPeer } from '../peers/github/index.js';
import { startInterceptingProxy } from '../reliability/intercepting-proxy.js';
import { rejection, rejectionSync } from '../support.js';

/**
 * ALLOWLIST_LEASE_SECONDS, read once where the Functions start runs (functions/lib/runtime.ts) and handed to each run.
 * test/engine/queue-workers.test.ts relies on it too: a killed worker's config is finished within seconds.
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

describe('the runs the Functions start hold their lease for ALLOWLIST_LEASE_SECONDS', () => {
  it('the queue worker and POST /api/check', async () => {
    const TOKEN = 'ghp_LeaseSetting0Token0123456789abcdefgh';
    const github = await startGitHubPeer({ token: TOKEN });
    const proxy = await startInterceptingProxy(github.url);
    const dir = mkdtempSync(join(tmpdir(), 'allowlist-drift-lease-'));
    const table = `lease${randomBytes(4).toString('hex')}`;
    const saved = { ...process.env };
    try {
      const config = {
        name: 'dmz',
        targets: [{ id: 'partners', type: 'static', entries: ['20.60.1.5'] }],
        files: [{ path: 'edl/dmz.txt', format: 'plain', targets: ['partners'] }],
        github: { owner: github.owner, repo: github.repo, base: github.base, apiUrl: proxy.url, dashboard: false },
      };
      writeFileSync(join(dir, 'dmz.json'), JSON.stringify(config));
      for (const name of ['ALLOWLIST_CONFIG', 'ALLOWLIST_CONFIG_PATH', 'ALLOWLIST_CONFIG_CONTAINER']) delete process.env[name];
      Object.assign(process.env, {
        ALLOWLIST_CONFIG_DIR: dir,
        ALLOWLIST_STORAGE: inject('azuriteConnectionString'),
        AzureWebJobsStorage: inject('azuriteConnectionString'),
        ALLOWLIST_TABLE: table,
        ALLOWLIST_LEASE_SECONDS: '45',
        GITHUB_TOKEN: TOKEN,
      });
      resetSharedRuntime();
      const leases = TableClient.fromConnectionString(inject('azuriteConnectionString'), table, { allowInsecureConnection: true });
      // While the run waits on GitHub, its lease row says how long it was taken for.
      const leaseSecondsLeft = async (): Promise<number[]> => {
        const seconds: number[] = [];
        proxy.intercept(() => ({
          afterForward: async () => {
            const row = await leases.getEntity<{ expiresAt: string }>(partitionKeyFor('dmz'), LEASE_ROW_KEY);
            seconds.push((Date.parse(row.expiresAt) - Date.now()) / 1000);
            proxy.intercept(() => undefined);
          },
        }));
        return seconds;
      };

      const queued = await leaseSecondsLeft();
      const context = new InvocationContext({ functionName: 'runConfig', triggerMetadata: { dequeueCount: 1 }, logHandler: () => {} });
      await runQueuedCheck({ v: 1, config: 'dmz', kind: 'CAS_SCHEDULE', tick: new Date().toISOString() }, context);
      const checked = await leaseSecondsLeft();
      const response = await checkHandler(
        new HttpRequest({ method: 'POST', url: 'https://app.test/api/check?config=dmz' }),
        new InvocationContext({ functionName: 'check', logHandler: () => {} }),
      );
      expect(response.status).toBe(200);
      // 45 s, not the default 660 s; the margin below is for a slow machine, not a measurement.
      for (const left of [...queued, ...checked]) {
        expect(left).toBeGreaterThan(15);
        expect(left).toBeLessThanOrEqual(45);
      }
      expect([queued.length, checked.length]).toEqual([1, 1]);
    } finally {
      process.env = saved;
      resetSharedRuntime();
      await Promise.all([proxy.close(), github.close()]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
