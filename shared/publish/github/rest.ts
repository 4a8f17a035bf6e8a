import type { Octokit } from '@octokit/rest';
import type { z } from 'zod';
import type { GitHubConfig } from '../../config.js';
import type { Log } from '../../log.js';
import { AllowlistError } from '../../problem.js';
import type { IssueRevision } from '../dashboard.js';
import { MAX_BODY_CHARS } from '../pr-text.js';
import { redact, secretsOf, type GitHubCredentials } from './auth.js';
import { octokitLogger } from './octokit-log.js';
import { appSchema, editsSchema, permissionSchema, userSchema } from './schemas.js';
import type { PublisherTuning } from './types.js';

const RETRIES = 3;
const RATE_LIMIT_RETRIES = 2;
const MAX_RATE_LIMIT_WAIT_SECONDS = 60;

/** A GitHub answer that was an HTTP error; callers look at `status` to handle the expected ones. */
export class GitHubRequestError extends AllowlistError {
  constructor(
    code: string,
    message: string,
    readonly status: number,
    readonly githubMessage: string,
  ) {
    super(code, message);
  }
}

export function isGitHubStatus(error: unknown, status: number, message?: RegExp): error is GitHubRequestError {
  return error instanceof GitHubRequestError && error.status === status && (message === undefined || message.test(error.githubMessage));
}

export type RequestFn = (octokit: Octokit) => Promise<{ data: unknown }>;

/** The one GraphQL query the tool sends; test/peers/github/graphql.ts answers exactly this one. */
export const EDITS_QUERY = `query DashboardEdits($owner: String!, $repo: String!, $number: Int!) {
  repository(owner: $owner, name: $repo) {
    issue(number: $number) {
      userContentEdits(first: 50) { nodes { editedAt diff editor { login } } }
    }
  }
}`;

/**
 * Why a request got no HTTP answer at all, as the system names it ("ENOTFOUND api.github.com", "ECONNREFUSED
 * 127.0.0.1:8443"), or undefined when GitHub answered. fetch rejects with a TypeError whose cause is the system
 * error, and Octokit wraps that again with status 500, so the chain of causes is walked.
 */
function unreachableReason(error: unknown, timeoutMs: number): string | undefined {
  if (typeof (error as { response?: unknown }).response === 'object') return undefined;
  for (let cause = (error as { cause?: unknown }).cause; typeof cause === 'object' && cause !== null;) {
    const { code, hostname, address, port, name } = cause as Record<string, unknown>;
    if (name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
    if (typeof code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code)) {
      const where = typeof hostname === 'string' ? hostname : typeof address === 'string' ? `${address}${port ? `:${port}` : ''}` : '';
      return `${code}${where ? ` ${where}` : ''}`;
    }
    cause = (cause as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Octokit with retries and rate-limit handling; counts requests and turns every failure into an AllowlistError. */
export class GitHubApi {
  requests = 0;

  private constructor(
    private readonly octokit: Octokit,
    private readonly secrets: readonly string[],
    private readonly timeoutMs: number,
  ) {}

  static async connect(config: GitHubConfig, credentials: GitHubCredentials, log: Log, tuning: PublisherTuning): Promise<GitHubApi> {
    // Loaded on first use: Octokit and its plugins are a noticeable share of a cold start.
    const [{ Octokit: RestOctokit }, { retry }, { throttling }] = await Promise.all([
      import('@octokit/rest'),
      import('@octokit/plugin-retry'),
      import('@octokit/plugin-throttling'),
    ]);
    const auth =
      credentials.kind === 'token'
        ? { auth: credentials.token }
        : {
            authStrategy: (await import('@octokit/auth-app')).createAppAuth,
            auth: { appId: credentials.appId, privateKey: credentials.privateKey, installationId: credentials.installationId },
          };
    const secrets = secretsOf(credentials);
    const say = (message: string) => log('info', redact(message, secrets));
    const octokitLog = octokitLogger(log, secrets);
    const unit = tuning.retryDelayUnitMs ?? 1000;
    const timeoutMs = tuning.requestTimeoutMs ?? 30_000;
    const attempts = (tuning.retries ?? RETRIES) + 1;
    let api: GitHubApi | undefined;
    // Consecutive unanswered attempts per request, for the progress line a person watching would otherwise miss.
    const failing = new Map<string, number>();
    const onLimit =
      (kind: string) => (retryAfter: number, options: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
        const retrying = retryCount < RATE_LIMIT_RETRIES && retryAfter <= MAX_RATE_LIMIT_WAIT_SECONDS;
        say(
          `GitHub ${kind} on ${options.method} ${options.url}: ${retrying ? `retrying in ${retryAfter} s` : `giving up (reset in ${retryAfter} s)`}`,
        );
        return retrying;
      };
    const Client = RestOctokit.plugin(retry, throttling);
    const octokit = new Client({
      ...auth,
      baseUrl: config.apiUrl.replace(/\/+$/, ''),
      userAgent: 'allowlist-drift',
      log: octokitLog,
      request: {
        // @octokit/request warns of deprecated endpoints through this one, or else straight to the console.
        log: octokitLog,
        fetch: async (url: string | URL | Request, init?: RequestInit) => {
          api!.requests += 1;
          const timeout = AbortSignal.timeout(timeoutMs);
          const request = `${init?.method ?? 'GET'} ${new URL(url instanceof Request ? url.url : url).pathname}`;
          try {
            const response = await fetch(url, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout });
            failing.delete(request);
            return response;
          } catch (error) {
            const reason = unreachableReason({ cause: error }, timeoutMs);
            const attempt = (failing.get(request) ?? 0) + 1;
            failing.set(request, attempt);
            // @octokit/plugin-retry waits attempt² units before the next attempt.
            const next = attempt < attempts ? `retrying in ${(attempt * attempt * unit) / 1000} s` : 'giving up';
            if (reason)
              log('warn', redact(`GitHub unreachable on ${request} (${reason}): attempt ${attempt} of ${attempts}, ${next}`, secrets));
            throw error;
          }
        },
      },
      retry: { retries: tuning.retries ?? RETRIES, retryAfterBaseValue: unit },
      throttle: {
        retryAfterBaseValue: unit,
        onRateLimit: onLimit('rate limit'),
        onSecondaryRateLimit: onLimit('secondary rate limit'),
        ...tuning.throttleGroups,
      },
    });
    api = new GitHubApi(octokit as unknown as Octokit, secrets, timeoutMs);
    return api;
  }

  /** The login these credentials act as: a token's user, or a GitHub App's bot user `<slug>[bot]`. */
  async login(kind: GitHubCredentials['kind']): Promise<string> {
    if (kind === 'app') {
      // Octokit's App auth signs this one with the App's JWT, not the installation token.
      const app = await this.call('GET /app', appSchema, (o) => o.request('GET /app'));
      return `${app.slug}[bot]`;
    }
    return (await this.call('GET /user', userSchema, (o) => o.request('GET /user'))).login;
  }

  /** Whether `login` may push to the repository (write, maintain or admin). */
  async mayPush(repo: { owner: string; repo: string }, login: string): Promise<boolean> {
    try {
      const answer = await this.call(`GET permission of ${login}`, permissionSchema, (o) =>
        o.request('GET /repos/{owner}/{repo}/collaborators/{username}/permission', { ...repo, username: login }),
      );
      return answer.permission === 'admin' || answer.permission === 'write';
    } catch (error) {
      if (isGitHubStatus(error, 404)) return false;
      throw error;
    }
  }

  /**
   * An issue's body as each edit left it, with who made the edit (GraphQL: the REST API has no edit history).
   * Octokit maps an Enterprise Server's `/api/v3` base URL to its `/api/graphql`.
   */
  async issueRevisions(issue: { owner: string; repo: string; number: number }): Promise<IssueRevision[]> {
    const answer = await this.call(`GraphQL edit history of #${issue.number}`, editsSchema, async (o) => ({
      data: await o.graphql(EDITS_QUERY, issue),
    }));
    return (answer.repository?.issue?.userContentEdits?.nodes ?? []).flatMap((node) =>
      node && node.diff !== null && node.editedAt
        ? [{ editor: node.editor?.login ?? 'ghost', editedAt: node.editedAt, body: node.diff }]
        : [],
    );
  }

  async call<S extends z.ZodType>(what: string, schema: S, send: RequestFn): Promise<z.infer<S>> {
    let data: unknown;
    try {
      ({ data } = await send(this.octokit));
    } catch (error) {
      throw this.failure(what, error);
    }
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      const found =
        typeof data === 'string'
          ? 'text instead of JSON'
          : parsed.error.issues
              .slice(0, 3)
              .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
              .join('; ');
      throw new AllowlistError(
        'github-bad-response',
        `GitHub's answer to ${what} is not what its API documents (${found}); is github.apiUrl a GitHub REST API endpoint?`,
      );
    }
    return parsed.data;
  }

  private failure(what: string, error: unknown): AllowlistError {
    const unreachable = unreachableReason(error, this.timeoutMs);
    if (unreachable) {
      // Octokit gives a request that got no answer status 500; it is no server error, and retrying now will not help.
      return new GitHubRequestError(
        'github-unreachable',
        `${unreachable}: GitHub could not be reached on ${what}; check github.apiUrl and the way there (DNS, proxy, firewall)`,
        0,
        unreachable,
      );
    }
    const status = typeof (error as { status?: unknown }).status === 'number' ? (error as { status: number }).status : 0;
    const raw = error instanceof Error ? error.message : String(error);
    const githubMessage = redact(raw, this.secrets).slice(0, 500);
    if (status === 401) {
      return new GitHubRequestError(
        'github-credentials-invalid',
        `GitHub refused the credentials on ${what} (401 ${githubMessage}); check GITHUB_TOKEN or the GitHub App settings.`,
        status,
        githubMessage,
      );
    }
    if (status === 403 && /rate limit/i.test(githubMessage)) {
      return new GitHubRequestError('github-rate-limited', `GitHub rate limit on ${what}: ${githubMessage}`, status, githubMessage);
    }
    const hint =
      status === 404
        ? ' (the repository or branch does not exist, or the credentials cannot see it)'
        : status === 403
          ? ' (the credentials lack a permission)'
          : '';
    return new GitHubRequestError(
      'github-error',
      `GitHub ${what} failed${status ? ` with ${status}` : ''}: ${githubMessage}${hint}`,
      status,
      githubMessage,
    );
  }
}

/** GitHub refuses a pull request or issue body over its limit: a longer one is cut, and says so. */
export function fitBody(body: string): string {
  return body.length <= MAX_BODY_CHARS
    ? body
    : `${body.slice(0, MAX_BODY_CHARS)}\n\n… (truncated: GitHub limits pull request descriptions to 65,536 characters)`;
}
