import type { TokenCredential } from '@azure/core-auth';
import { loadConfig, type Config, type ConfigSource, type Target } from '../config.js';
import { configOf, configSetSourceFromEnv, loadConfigSet, selectConfig } from '../config-set.js';
import { runDoctor, type DoctorProbes, type DoctorReport } from './checks.js';
import { probeResolver, resolversOf } from '../net/dns.js';
import type { ProbedUrl } from '../net/http.js';
import { AllowlistError } from '../problem.js';
import { credentialsFromEnv, secretsOf } from '../publish/github/auth.js';
import type { PublisherTuning } from '../publish/github/types.js';
import { sourceOf } from '../sources/registry.js';
import type { SourceContext } from '../sources/source.js';
import { standingFailures } from '../queue/poisoned.js';
import { runQueueName } from '../queue/queue-name.js';
import { storageSetting } from '../state/open.js';
import { describeQueueFailure } from '../state/queue-failures.js';

/**
 * The doctor's probes as the app runs them: each one is the owning module's own probe, loaded on first use.
 * Requests per run: storage 3 (create table, create and delete a probe row), and 2 for the poisoned run messages (they
 * and the config's state, which says whether a run completed since); GitHub 3 (GET /user or the App's token
 * exchange, GET repository, GET branch); one GET per distinct upstream URL, its body not read (plus redirects); for
 * ARM a token from the credential and one GET; one DNS query per resolver.
 */
export interface DoctorWiring {
  /** Where the config comes from; default the app's settings (one config, or a folder or container of them). */
  readonly config?: ConfigSource;
  /** Which config of a folder or container to check; needed when it has several. */
  readonly configName?: string;
  /** Run by the CLI: a fix names --config rather than the app settings. */
  readonly cli?: boolean;
  /** The storage setting to check; default ALLOWLIST_STORAGE, else AzureWebJobsStorage. */
  readonly storage?: string;
  /** Said beside the storage check (the CLI's embedded store). */
  readonly storageNote?: string;
  /** Replaces DefaultAzureCredential for ARM (tests). */
  readonly armCredential?: TokenCredential;
  /** GitHub client knobs; the doctor retries once and gives each request 10 s. */
  readonly githubTuning?: PublisherTuning;
}

export function doctorProbes(env: NodeJS.ProcessEnv, wiring: DoctorWiring = {}): DoctorProbes {
  const openStore = async () => {
    const setting = wiring.storage ?? storageSetting(env);
    if (!setting)
      throw new AllowlistError(
        'storage-missing',
        'No state store is configured: neither ALLOWLIST_STORAGE nor AzureWebJobsStorage is set.',
      );
    const { StateStore } = await import('../state/store.js');
    // The table openStore() would use; one retry, so a store that is down fails the check in seconds.
    const tableName = env.ALLOWLIST_TABLE?.trim();
    return StateStore.fromSetting(setting, { ...(tableName ? { tableName } : {}), maxRetries: 1 });
  };
  return {
    loadConfig: () => (wiring.config ? loadConfig(wiring.config) : namedConfig(env, wiring.configName)),

    async storage(configName) {
      const where = await (await openStore()).probe(configName);
      return { ...where, ...(wiring.storageNote ? { note: wiring.storageNote } : {}) };
    },

    async baselines(configName) {
      const snapshot = await (await openStore()).read(configName);
      return new Map([...snapshot.targets].map(([id, record]) => [id, record.baseline ?? []] as const));
    },

    async queueFailures(config) {
      const queue = runQueueName(env);
      const unreadable: string[] = [];
      const store = await openStore();
      const [failures, snapshot] = await Promise.all([
        store.queueFailures().list(config.name, (text) => unreadable.push(text)),
        // A state that cannot be read (the storage check says why) cannot show a later run: every record stands.
        store.read(config.name).catch(() => undefined),
      ]);
      const standing = snapshot ? standingFailures({ failures, config, snapshot }) : failures;
      return { queue, poisoned: [...standing.map(describeQueueFailure), ...unreadable] };
    },

    async github(github) {
      const { createGitHubProbe } = await import('../publish/github/probe.js');
      return createGitHubProbe({ github, env, tuning: { retries: 1, requestTimeoutMs: 10_000, ...wiring.githubTuning } });
    },

    async upstream(target, config) {
      const context = { config, env, now: () => new Date(), ...(wiring.armCredential ? { armCredential: wiring.armCredential } : {}) };
      const probe = sourceOf(target.type)?.probe;
      // The doctor asks only for targets whose source plans an upstream; one without a probe is a wiring mistake.
      if (!probe) throw new Error(`no doctor probe for targets of type ${JSON.stringify(target.type)}`);
      return ((await probe()) as (target: Target, context: SourceContext) => Promise<ProbedUrl>)(target, context);
    },

    resolvers: (dns) => resolversOf(dns),
    resolver: (server, dns, hostname) => probeResolver(server, dns, hostname),
  };
}

/** The config of the app's settings with that name, or its only one: a set of several needs the name. */
async function namedConfig(env: NodeJS.ProcessEnv, name: string | undefined): Promise<Config> {
  return configOf(selectConfig(await loadConfigSet(configSetSourceFromEnv(env), env), name));
}

/**
 * The secret values the settings hold, for the doctor's last redaction pass: the GitHub token or App key, the
 * storage key or SAS, the LifeTime token.
 */
export function doctorSecrets(env: NodeJS.ProcessEnv, storage = storageSetting(env)): string[] {
  const secrets: string[] = [];
  try {
    secrets.push(...secretsOf(credentialsFromEnv(env)));
  } catch {
    // Settings that do not parse still may hold a token.
  }
  const token = env.GITHUB_TOKEN?.trim();
  if (token) secrets.push(token);
  const lifetime = env.LIFETIME_TOKEN?.trim();
  if (lifetime) secrets.push(lifetime);
  for (const match of (storage ?? '').matchAll(/(?:AccountKey|SharedAccessSignature)=([^;]+)/gi)) {
    secrets.push(match[1]!.trim());
    for (const sig of match[1]!.matchAll(/(?:^|&)sig=([^&]+)/g)) secrets.push(sig[1]!, safeDecode(sig[1]!));
  }
  return secrets.filter((secret) => secret.length >= 8);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The doctor with the app's own settings. */
export function runDoctorFromEnv(env: NodeJS.ProcessEnv, wiring: DoctorWiring = {}): Promise<DoctorReport> {
  return runDoctor(doctorProbes(env, wiring), { secrets: doctorSecrets(env, wiring.storage), cli: wiring.cli ?? false });
}
