import type { StateStore } from './store.js';

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
  const { StateStore } = await import('./store.js');
  const tableName = env.ALLOWLIST_TABLE?.trim();
  const store = StateStore.fromSetting(setting, tableName ? { tableName } : {});
  await store.ensureTable();
  return store;
}
