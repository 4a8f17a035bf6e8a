import { configSourceFromEnv, loadConfig, type Config } from './config.js';
import { AllowlistError } from './problem.js';
import type { StateStore } from './state/store.js';

export interface Runtime {
  readonly config: Config;
  readonly store: StateStore;
}

/** The storage setting the app reads: its own, else the Functions host's. */
export function storageSetting(env: NodeJS.ProcessEnv): string | undefined {
  const value = env.ALLOWLIST_STORAGE?.trim() || env.AzureWebJobsStorage?.trim();
  return value ? value : undefined;
}

/**
 * Opens the state table named by ALLOWLIST_TABLE (default "allowlistdrift"), creating it if needed;
 * a separate table lets several deployments share one storage account.
 */
export async function openStore(setting: string, env: NodeJS.ProcessEnv): Promise<StateStore> {
  const { StateStore } = await import('./state/store.js');
  const tableName = env.ALLOWLIST_TABLE?.trim();
  const store = StateStore.fromSetting(setting, tableName ? { tableName } : {});
  await store.ensureTable();
  return store;
}

/** Builds config and store from app settings; validation happens here, once, at the edge. */
export async function createRuntime(env: NodeJS.ProcessEnv, storage = storageSetting(env)): Promise<Runtime> {
  const config = await loadConfig(configSourceFromEnv(env));
  if (!storage) {
    throw new AllowlistError('storage-missing', 'No state store: set ALLOWLIST_STORAGE (a connection string or https://<account>.table.core.windows.net) or AzureWebJobsStorage');
  }
  return { config, store: await openStore(storage, env) };
}

let cached: Promise<Runtime> | undefined;

/** One runtime per Functions worker process; a failure is not cached, so a fixed setting takes effect on the next call. */
export function sharedRuntime(env: NodeJS.ProcessEnv = process.env): Promise<Runtime> {
  cached ??= createRuntime(env).catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

/** Forgets the cached runtime, so changed app settings are read again (tests; the host restarts instead). */
export function resetSharedRuntime(): void {
  cached = undefined;
}
