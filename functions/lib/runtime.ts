import type { Config } from '../../shared/config.js';
import { configOf, configSetSourceFromEnv, loadConfigSet, selectConfig, type ConfigSet } from '../../shared/config-set.js';
import { leaseTtlMsFromEnv } from '../../shared/engine/lease-setting.js';
import type { DocumentCache } from '../../shared/net/document-cache.js';
import { AllowlistError } from '../../shared/problem.js';
import { recentRead } from '../../shared/recent-read.js';
import { openDocuments, openStore, storageSetting } from '../../shared/state/open.js';
import type { StateStore } from '../../shared/state/store.js';

/**
 * How long the queue worker reuses a container's listing for the messages of one tick: short, so that even a tick
 * whose messages take minutes re-reads a few times, and clocks of the timer's and the worker's instance that differ
 * a little cannot keep an old listing for long.
 */
export const CONFIG_SET_REUSE_SECONDS = 30;

export interface Runtime {
  readonly store: StateStore;
  /** The app's configs: read once per worker from the package, on every call from a container (teams add configs there). */
  configSet(): Promise<ConfigSet>;
  /**
   * The same set for the queue worker: a container's listing is shared by the messages of one tick, i.e. reused when
   * it was read at or after `tick` (the time the timer listed the container) and less than CONFIG_SET_REUSE_SECONDS
   * ago. A tick's 100 messages cost one listing per worker process, and a config a team edits is read on the next tick.
   */
  configSetSince(tick: Date): Promise<ConfigSet>;
  /** The document cache in the same storage account; opened on first use. */
  readonly documents: DocumentCache;
  /** How long a run's lease on its config lasts (ALLOWLIST_LEASE_SECONDS). */
  readonly leaseTtlMs: number;
}

/** Builds the config set and store from app settings; validation happens here, once, at the edge. */
export async function createRuntime(env: NodeJS.ProcessEnv, storage = storageSetting(env)): Promise<Runtime> {
  const source = configSetSourceFromEnv(env);
  const leaseTtlMs = leaseTtlMsFromEnv(env);
  const loaded = source.kind === 'container' ? undefined : await loadConfigSet(source, env);
  if (!storage) {
    throw new AllowlistError(
      'storage-missing',
      'No state store: set ALLOWLIST_STORAGE (a connection string or https://<account>.table.core.windows.net) or AzureWebJobsStorage',
    );
  }
  const store = await openStore(storage, env);
  const documents = await openDocuments(storage, env);
  const configSet = () => (loaded ? Promise.resolve(loaded) : loadConfigSet(source, env));
  const recent = recentRead(configSet, { maxAgeMs: CONFIG_SET_REUSE_SECONDS * 1000 });
  return { store, documents, leaseTtlMs, configSet, configSetSince: (tick) => (loaded ? Promise.resolve(loaded) : recent(tick)) };
}

/** The config a request names with config=, or the app's only one; its config error is thrown. */
export async function namedConfig(runtime: Runtime, name: string | undefined): Promise<Config> {
  return configOf(selectConfig(await runtime.configSet(), name));
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
