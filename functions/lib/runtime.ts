import { configSourceFromEnv, loadConfig, type Config } from '../../shared/config.js';
import type { DocumentCache } from '../../shared/net/document-cache.js';
import { AllowlistError } from '../../shared/problem.js';
import { openDocuments, openStore, storageSetting } from '../../shared/state/open.js';
import type { StateStore } from '../../shared/state/store.js';

export interface Runtime {
  readonly config: Config;
  readonly store: StateStore;
  /** The document cache in the same storage account; opened on first use. */
  readonly documents: DocumentCache;
}

/** Builds config and store from app settings; validation happens here, once, at the edge. */
export async function createRuntime(env: NodeJS.ProcessEnv, storage = storageSetting(env)): Promise<Runtime> {
  const config = await loadConfig(configSourceFromEnv(env));
  if (!storage) {
    throw new AllowlistError(
      'storage-missing',
      'No state store: set ALLOWLIST_STORAGE (a connection string or https://<account>.table.core.windows.net) or AzureWebJobsStorage',
    );
  }
  return { config, store: await openStore(storage, env), documents: await openDocuments(storage, env) };
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
