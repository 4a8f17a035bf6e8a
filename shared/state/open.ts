import type { DocumentCache } from '../net/document-cache.js';
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

/**
 * The document cache: blobs in the container named by ALLOWLIST_DOCUMENT_CONTAINER (default
 * "allowlistdrift-documents") of the state's storage account. Blob Storage itself is reached on the first read.
 */
export async function openDocuments(setting: string, env: NodeJS.ProcessEnv): Promise<DocumentCache> {
  const { openDocumentCache } = await import('./blob-document-cache.js');
  const container = env.ALLOWLIST_DOCUMENT_CONTAINER?.trim();
  return openDocumentCache(setting, container ? { container } : {});
}
