import { CAPACITY_OPTIONS, capacityProblem, limitText } from '../capacity/capacity.js';
import { fittedCapacityOfSets } from '../capacity/fit.js';
import type { Config, DnsConfig, GitHubConfig, Target } from '../config.js';
import type { Cidr } from '../ipset.js';
import type { ResolverProbe } from '../net/dns.js';
import { describe, type ProbedUrl } from '../net/http.js';
import { AllowlistError } from '../problem.js';
import { redact } from '../publish/github/auth.js';
import { poisonQueueOf } from '../queue/queue-name.js';
import type { GitHubIdentity, GitHubProbe, GitHubRepositoryAccess } from '../publish/github/probe.js';
import { doctorOf, TARGET_TYPES } from '../sources/registry.js';
import type { UpstreamPlan } from '../sources/source.js';
import { scrubSecrets } from '../state/errors.js';
import {
  credentialsFix,
  genericGitHubFix,
  messageOf,
  repositoryFix,
  resolverFix,
  statusOf,
  storageFix,
  tokenPermissions,
  upstreamFix,
  writePermissions,
} from './fixes.js';
import { formatBytes } from './format.js';

/**
 * `allowlist-drift doctor` and GET /api/doctor: a set-up check before it matters. Each check is one line: what was
 * checked and what came back, and when it failed, how to fix it. This module only runs the checks and words them;
 * the probes that touch the world live with the code that owns each concern (StateStore.probe, createGitHubProbe,
 * probeUrl, probeResolver, the sources' probes) and are wired in probes.ts; fixes.ts words what to change, format.ts the report.
 */

export interface DoctorCheck {
  /** Stable: `config`, `storage`, `github-credentials`, `github-repository`, `github-base-branch`, `github-permissions`, `upstream:<target ids>`, `arm` or `arm:<target ids>`, `dns` or `dns:<resolver>`, `capacity:<file path>`, `queue`. */
  readonly name: string;
  readonly ok: boolean;
  /** One line: what was checked and what it answered. */
  readonly detail: string;
  /** One line, only on a failed check: what to change. */
  readonly fix?: string;
}

export interface DoctorReport {
  readonly checks: DoctorCheck[];
  /** Every check passed. */
  readonly ok: boolean;
}

/** What the doctor asks the world; tests pass their own. */
export interface DoctorProbes {
  /** Loads and validates the configuration; a ConfigError lists the problems. */
  loadConfig(): Promise<Config>;
  /** Creates and deletes a probe row in the config's partition of the state table; throws a storage error. */
  storage(configName: string): Promise<{ readonly table: string; readonly endpointHost: string; readonly note?: string }>;
  /** Read-only GitHub calls with the configured credentials; throws when the credential settings are missing or malformed. */
  github(github: GitHubConfig): Promise<GitHubProbe>;
  /** The upstream of a target whose source plans one (a document URL, or an API with a token), without its body. */
  upstream(target: Target, config: Config): Promise<ProbedUrl>;
  /** The resolvers a run asks: `dns.servers`, else the system's. */
  resolvers(dns: DnsConfig): readonly string[];
  /** One A query for `hostname` to one resolver. */
  resolver(server: string, dns: DnsConfig, hostname: string): Promise<ResolverProbe>;
  /** Per target, its approved baseline as stored (the capacity check); absent where there is no store to read. */
  baselines?(configName: string): Promise<ReadonlyMap<string, readonly Cidr[]>>;
  /**
   * The run queue's name and the config's run messages recorded as poisoned that no run of their kind completed
   * after (the queue check); absent without a store.
   */
  queueFailures?(config: Config): Promise<{ readonly queue: string; readonly poisoned: readonly string[] }>;
}

export interface DoctorOptions {
  /** Strings that must never appear in a check (tokens, keys, signatures); connection-string keys are scrubbed anyway. */
  readonly secrets?: readonly string[];
  /** The longest a storage or GitHub check may take before it fails as timed out. Default 45 s. */
  readonly deadlineMs?: number;
  /** Run by the CLI, where --config names the config file: the fixes name the flag rather than the app settings. */
  readonly cli?: boolean;
}

const DEFAULT_DEADLINE_MS = 45_000;

export async function runDoctor(probes: DoctorProbes, options: DoctorOptions = {}): Promise<DoctorReport> {
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  let config: Config;
  const checks: DoctorCheck[] = [];
  try {
    config = await probes.loadConfig();
    checks.push(pass('config', describeConfig(config)));
  } catch (error) {
    // Every other check reads the config: there is nothing more to ask until it loads.
    checks.push(configFailure(error, options.cli ?? false));
    return finish(checks, options.secrets ?? []);
  }
  const groups = await Promise.all([
    checkStorage(probes, config, deadlineMs),
    checkGitHub(probes, config, deadlineMs),
    checkUpstreams(probes, config),
    checkResolvers(probes, config),
    checkCapacity(probes, config),
    checkQueue(probes, config),
  ]);
  return finish([...checks, ...groups.flat()], options.secrets ?? []);
}

// --- config --------------------------------------------------------------------------------------------------

function describeConfig(config: Config): string {
  const types = [...new Set(config.targets.map((t) => t.type))].join(', ');
  const publishing = config.github
    ? `pull requests on ${config.github.owner}/${config.github.repo} (base ${config.github.base})`
    : 'no github section (reports only)';
  return `config "${config.name}" is valid: ${config.targets.length} target(s) (${types}), ${config.files.length} file(s), ${publishing}`;
}

function configFailure(error: unknown, cli: boolean): DoctorCheck {
  const problems = (error as { problems?: unknown }).problems;
  const detail =
    Array.isArray(problems) && problems.length > 0 ? `the configuration is not valid: ${problems.join('; ')}` : messageOf(error);
  const missing = /no configuration file there|cannot read it/.test(detail);
  return fail(
    'config',
    detail,
    missing
      ? cli
        ? 'Give --config the path of the config file (relative to the current folder), as in `allowlist-drift doctor --config allowlist-drift.config.json`.'
        : 'Set ALLOWLIST_CONFIG_PATH to the config file (relative to the app root), or ALLOWLIST_CONFIG to the config JSON itself.'
      : 'Correct each key path listed; an editor using allowlist-drift.schema.json shows the problems as you type.',
  );
}

// --- storage -------------------------------------------------------------------------------------------------

async function checkStorage(probes: DoctorProbes, config: Config, deadlineMs: number): Promise<DoctorCheck[]> {
  try {
    const where = await within(probes.storage(config.name), deadlineMs, 'the storage check');
    const note = where.note ? ` (${where.note})` : '';
    return [
      pass(
        'storage',
        `table ${where.table} at ${where.endpointHost}${note}: a probe row was written and deleted in partition "${config.name}"`,
      ),
    ];
  } catch (error) {
    return [fail('storage', messageOf(error), storageFix(error))];
  }
}

// --- GitHub --------------------------------------------------------------------------------------------------

async function checkGitHub(probes: DoctorProbes, config: Config, deadlineMs: number): Promise<DoctorCheck[]> {
  const github = config.github;
  if (!github)
    return [pass('github-credentials', 'not checked: the config has no github section, so checks only report and nothing is published')];
  const checks: DoctorCheck[] = [];
  const started = Date.now();
  const remaining = () => Math.max(1, deadlineMs - (Date.now() - started));
  let probe: GitHubProbe;
  let identity: GitHubIdentity;
  let kind: GitHubProbe['kind'] | undefined;
  try {
    probe = await within(probes.github(github), remaining(), 'the GitHub check');
    kind = probe.kind;
    identity = await within(probe.identity(), remaining(), 'the GitHub check');
    checks.push(pass('github-credentials', describeIdentity(identity, github)));
  } catch (error) {
    return [fail('github-credentials', messageOf(error), credentialsFix(error, github, kind))];
  }

  let repository: GitHubRepositoryAccess;
  try {
    repository = await within(probe.repository(), remaining(), 'the GitHub check');
    checks.push(
      pass(
        'github-repository',
        `${repository.fullName} (${repository.private ? 'private' : 'public'}${repository.archived ? ', archived' : ''}) is visible to ${identity.who}`,
      ),
    );
  } catch (error) {
    checks.push(fail('github-repository', messageOf(error), repositoryFix(error, github, identity.kind)));
    return checks;
  }

  try {
    const branch = await within(probe.baseBranch(), remaining(), 'the GitHub check');
    checks.push(pass('github-base-branch', `base branch ${branch.name} of ${repository.fullName} is at ${branch.sha.slice(0, 12)}`));
  } catch (error) {
    const fix =
      statusOf(error) === 404
        ? `Set github.base to an existing branch of ${github.owner}/${github.repo} (the default is "main"), or create the branch.`
        : genericGitHubFix(error, github);
    checks.push(fail('github-base-branch', messageOf(error), fix));
  }

  checks.push(permissionsCheck(identity, repository, github));
  return checks;
}

function describeIdentity(identity: GitHubIdentity, github: GitHubConfig): string {
  const actsAs = `; allowlist-drift acts as ${identity.login} and trusts only what ${identity.login} wrote`;
  if (identity.kind === 'app') return `GitHub App ${identity.who} at ${github.apiUrl}: the installation token exchange succeeded${actsAs}`;
  const scopes =
    identity.scopes === undefined
      ? 'no OAuth scopes reported (a fine-grained token)'
      : `classic token scopes: ${identity.scopes.join(', ') || 'none'}`;
  return `GITHUB_TOKEN is accepted by ${github.apiUrl} as ${identity.who} (${scopes})${actsAs}`;
}

function permissionsCheck(identity: GitHubIdentity, repository: GitHubRepositoryAccess, github: GitHubConfig): DoctorCheck {
  if (repository.archived) {
    return fail(
      'github-permissions',
      `${repository.fullName} is archived: nothing can be pushed to it`,
      'Unarchive the repository, or point github.repo at the one holding the rule files.',
    );
  }
  if (identity.kind === 'app') {
    const granted = identity.permissions ?? {};
    const needed = writePermissions(github);
    const missing = needed.filter((name) => granted[name] !== 'write');
    const listed = needed.map((name) => `${name}: ${granted[name] ?? 'none'}`).join(', ');
    if (missing.length === 0) return pass('github-permissions', `the installation token may write: ${listed}`);
    return fail(
      'github-permissions',
      `the installation token lacks write access: ${listed}`,
      `In the GitHub App's settings grant ${tokenPermissions(github)}, then accept the new permissions on the installation${github.dashboard ? ' (or set github.dashboard to false to do without the dashboard)' : ''}.`,
    );
  }
  if (identity.scopes !== undefined) {
    const needed = repository.private ? ['repo'] : ['repo', 'public_repo'];
    if (!identity.scopes.some((scope) => needed.includes(scope))) {
      return fail(
        'github-permissions',
        `the classic token has the scopes ${identity.scopes.join(', ') || '(none)'}, none of which allows writing to ${repository.fullName}`,
        `Give the token the ${repository.private ? 'repo' : 'public_repo (or repo)'} scope, or use a fine-grained token with ${tokenPermissions(github)}.`,
      );
    }
  }
  if (repository.push === undefined) {
    return pass(
      'github-permissions',
      `GitHub did not report whether ${identity.who} may push to ${repository.fullName}: write access is not verified`,
    );
  }
  if (!repository.push) {
    return fail(
      'github-permissions',
      `${identity.who} may not push to ${repository.fullName} (permissions.push is false)`,
      `Give the account write access to the repository, and the token ${tokenPermissions(github)} (a classic token: the repo scope).`,
    );
  }
  const fineGrained =
    identity.scopes === undefined
      ? `; a fine-grained token also needs ${github.dashboard ? 'Pull requests and Issues' : 'Pull requests'}: read and write, which GitHub does not report`
      : '';
  return pass('github-permissions', `${identity.who} may push to ${repository.fullName}${fineGrained}`);
}

// --- upstream documents and ARM ---------------------------------------------------------------------------------

async function checkUpstreams(probes: DoctorProbes, config: Config): Promise<DoctorCheck[]> {
  const groups = new Map<string, { plan: UpstreamPlan; targets: Target[] }>();
  for (const target of config.targets) {
    const plan = planOf(target);
    if (!plan) continue;
    const key = `${target.type} ${plan.key}`;
    groups.set(key, { plan, targets: [...(groups.get(key)?.targets ?? []), target] });
  }
  const checks = await Promise.all(
    [...groups.values()].map(async ({ plan, targets }): Promise<DoctorCheck> => {
      const first = targets[0]!;
      const name = `${plan.check}:${targets.map((t) => t.id).join(',')}`;
      try {
        const answer = await probes.upstream(first, config);
        const size = answer.declaredBytes === undefined ? '' : `, ${formatBytes(answer.declaredBytes)}`;
        return pass(name, `${plan.what} ${describe(answer.url)} answered ${answer.status} (${answer.contentType}${size})`);
      } catch (error) {
        return fail(name, messageOf(error), upstreamFix(error, first));
      }
    }),
  );
  const planned = new Set([...groups.values()].map(({ plan }) => plan.check));
  for (const type of TARGET_TYPES) {
    for (const unused of doctorOf(type)?.unused ?? []) {
      if (!planned.has(unused.check)) checks.push(pass(unused.check, unused.detail));
    }
  }
  return checks;
}

/** The upstream the target's source probes, if it has one. */
function planOf(target: Target): UpstreamPlan | undefined {
  return doctorOf(target.type)?.upstream?.(target);
}

// --- DNS -----------------------------------------------------------------------------------------------------

async function checkResolvers(probes: DoctorProbes, config: Config): Promise<DoctorCheck[]> {
  // The first target whose source resolves names; its first hostname is what each resolver is asked.
  const resolving = config.targets.find((t) => doctorOf(t.type)?.resolve);
  const hostname = resolving && doctorOf(resolving.type)?.resolve?.(resolving);
  if (!resolving || hostname === undefined) return [pass('dns', 'not checked: no outsystems target, so no DNS query is made')];
  let servers: readonly string[];
  try {
    servers = probes.resolvers(config.dns);
  } catch (error) {
    return [fail('dns', messageOf(error), 'Set dns.servers to the resolvers to ask.')];
  }
  if (servers.length === 0)
    return [
      fail('dns', 'this system has no DNS resolver configured', 'Set dns.servers to the resolvers to ask (in Azure, 168.63.129.16).'),
    ];
  return Promise.all(
    servers.map(async (server): Promise<DoctorCheck> => {
      const name = `dns:${server}`;
      const origin = config.dns.servers ? 'dns.servers' : 'the system resolvers';
      try {
        const answer = await probes.resolver(server, config.dns, hostname);
        if (answer.answering) {
          const what = answer.outcome === 'answered' ? 'an address' : answer.outcome === 'nxdomain' ? 'NXDOMAIN' : 'no A record';
          return pass(name, `resolver ${server} (${origin}) answered the A query for ${hostname} with ${what} in ${answer.ms} ms`);
        }
        return fail(
          name,
          `resolver ${server} (${origin}) gave no usable answer for ${hostname}: ${answer.failure.code} (${answer.failure.reason}) after ${answer.ms} ms`,
          resolverFix(answer.failure.code),
        );
      } catch (error) {
        return fail(name, messageOf(error), resolverFix('dns-error'));
      }
    }),
  );
}

// --- capacity ------------------------------------------------------------------------------------------------

/** Each file with a limit, judged from the approved baseline: whether the firewall takes it as it stands. */
async function checkCapacity(probes: DoctorProbes, config: Config): Promise<DoctorCheck[]> {
  const limited = config.files.filter((file) => file.limit);
  if (limited.length === 0 || !probes.baselines) return [];
  let baselines: ReadonlyMap<string, readonly Cidr[]>;
  try {
    baselines = await probes.baselines(config.name);
  } catch (error) {
    return [pass('capacity', `not checked: the approved baselines could not be read (${messageOf(error)}); see the storage check`)];
  }
  return fittedCapacityOfSets(limited, baselines).map((decision) => {
    const name = `capacity:${decision.path}`;
    const problem = capacityProblem(decision);
    if (decision.outcome === 'exceeded') {
      return fail(name, `${problem!.code}: ${problem!.message}`, `To make it fit, ${CAPACITY_OPTIONS}.`);
    }
    if (problem) return pass(name, `${problem.code}: ${problem.message}`);
    const entries = decision.count.ipv4 + decision.count.ipv6;
    return pass(name, `the approved baseline puts ${entries} entries into it, within its limit of ${limitText(decision.limit)}`);
  });
}

// --- queue ---------------------------------------------------------------------------------------------------

/** Whether a run message of this config failed every attempt and went to the poison queue, with no good run since. */
async function checkQueue(probes: DoctorProbes, config: Config): Promise<DoctorCheck[]> {
  if (!probes.queueFailures) return [];
  let found: { readonly queue: string; readonly poisoned: readonly string[] };
  try {
    found = await probes.queueFailures(config);
  } catch (error) {
    return [pass('queue', `not checked: the poisoned run messages could not be read (${messageOf(error)}); see the storage check`)];
  }
  const poison = poisonQueueOf(found.queue);
  if (found.poisoned.length === 0)
    return [pass('queue', `no run message of config "${config.name}" went to ${poison} since its last good run`)];
  return [
    fail(
      'queue',
      `config "${config.name}" has a run message in ${poison}: ${found.poisoned.join('; ')}`,
      `Fix the cause the error names, then move the message from ${poison} back to ${found.queue} (Storage Explorer, or peek it with \`az storage message peek --queue-name ${poison}\`) or wait for the next tick; once a run of that kind completes, this check passes again.`,
    ),
  ];
}

// --- helpers -------------------------------------------------------------------------------------------------

function pass(name: string, detail: string): DoctorCheck {
  return { name, ok: true, detail };
}

function fail(name: string, detail: string, fix: string): DoctorCheck {
  return { name, ok: false, detail, fix };
}

/** Every line is one line, and no secret survives: the probes redact already, this is the last net. */
function finish(checks: DoctorCheck[], secrets: readonly string[]): DoctorReport {
  const clean = (text: string) => redact(scrubSecrets(text.replace(/\s*\n\s*/g, ' ').trim(), secrets), secrets);
  const cleaned = checks.map((check) => ({
    ...check,
    detail: clean(check.detail),
    ...(check.fix === undefined ? {} : { fix: clean(check.fix) }),
  }));
  return { checks: cleaned, ok: cleaned.every((check) => check.ok) };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new AllowlistError('doctor-timeout', `${what} did not finish within ${ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`}`),
        ),
      ms,
    );
    timer.unref?.();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
