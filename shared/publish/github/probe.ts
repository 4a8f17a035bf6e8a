import type { z } from 'zod';
import type { GitHubConfig } from '../../config.js';
import { describe } from '../../net/http.js';
import { AllowlistError } from '../../problem.js';
import { credentialsFromEnv, redact, secretsOf, type GitHubCredentials } from './auth.js';
import { GitHubApi, type RequestFn } from './rest.js';
import { branchSchema, installationAuthSchema, repositorySchema, userSchema } from './schemas.js';
import type { GitHubPublisherOptions } from './types.js';

/** Who the credentials are, as GitHub answered. */
export interface GitHubIdentity {
  readonly kind: GitHubCredentials['kind'];
  /** The token's login, or "installation <id>" of the GitHub App. */
  readonly who: string;
  /** The login the tool writes as and trusts: the token's user, or the App's bot user `<slug>[bot]`. */
  readonly login: string;
  /** A classic token's OAuth scopes (X-OAuth-Scopes); GitHub sends none for fine-grained tokens. */
  readonly scopes?: readonly string[];
  /** A GitHub App installation token's permissions, e.g. { contents: 'write', pull_requests: 'write' }. */
  readonly permissions?: Readonly<Record<string, string>>;
}

export interface GitHubRepositoryAccess {
  readonly fullName: string;
  readonly private: boolean;
  readonly archived: boolean;
  /** `permissions.push` of the repository for the caller, when GitHub sends it. */
  readonly push?: boolean;
}

/**
 * Read-only calls that tell whether publishing would work, one request each: who the credentials are (GET /user for a
 * token, the installation token exchange and GET /app for an App), the repository and the base branch. Failures are the
 * publisher's AllowlistErrors (messages redacted); a GitHub that could not be reached at all is `github-unreachable`.
 */
export interface GitHubProbe {
  readonly kind: GitHubCredentials['kind'];
  identity(): Promise<GitHubIdentity>;
  repository(): Promise<GitHubRepositoryAccess>;
  baseBranch(): Promise<{ readonly name: string; readonly sha: string }>;
  /** HTTP requests sent so far, retries and token exchanges included. */
  requests(): number;
}

export async function createGitHubProbe(options: Pick<GitHubPublisherOptions, 'github' | 'env' | 'log' | 'tuning'>): Promise<GitHubProbe> {
  const credentials = credentialsFromEnv(options.env);
  const api = await GitHubApi.connect(options.github, credentials, options.log ?? (() => {}), options.tuning ?? {});
  return new OctokitProbe(api, options.github, credentials);
}

class OctokitProbe implements GitHubProbe {
  readonly kind: GitHubCredentials['kind'];

  constructor(
    private readonly api: GitHubApi,
    private readonly config: GitHubConfig,
    private readonly credentials: GitHubCredentials,
  ) {
    this.kind = credentials.kind;
  }

  requests(): number {
    return this.api.requests;
  }

  async identity(): Promise<GitHubIdentity> {
    if (this.credentials.kind === 'app') {
      const auth = await this.reach('the installation token exchange', installationAuthSchema, async (o) => ({
        data: await (o.auth as (options: { type: 'installation' }) => Promise<unknown>)({ type: 'installation' }),
      }));
      const login = await this.api.login('app');
      return { kind: 'app', who: `installation ${auth.installationId}`, login, permissions: auth.permissions };
    }
    let scopes: string | undefined;
    const user = await this.reach('GET /user', userSchema, async (o) => {
      const response = await o.request('GET /user');
      scopes = response.headers['x-oauth-scopes'];
      return response;
    });
    const list = scopes
      ?.split(',')
      .map((scope) => scope.trim())
      .filter(Boolean);
    return { kind: 'token', who: user.login, login: user.login, ...(list !== undefined ? { scopes: list } : {}) };
  }

  async repository(): Promise<GitHubRepositoryAccess> {
    const repo = await this.reach(`GET repository ${this.config.owner}/${this.config.repo}`, repositorySchema, (o) =>
      o.request('GET /repos/{owner}/{repo}', { owner: this.config.owner, repo: this.config.repo }),
    );
    return {
      fullName: repo.full_name,
      private: repo.private,
      archived: repo.archived,
      ...(repo.permissions ? { push: repo.permissions.push } : {}),
    };
  }

  async baseBranch(): Promise<{ name: string; sha: string }> {
    const branch = await this.reach(`GET branch ${this.config.base}`, branchSchema, (o) =>
      o.request('GET /repos/{owner}/{repo}/branches/{branch}', {
        owner: this.config.owner,
        repo: this.config.repo,
        branch: this.config.base,
      }),
    );
    return { name: this.config.base, sha: branch.commit.sha };
  }

  /** A call whose failure without any HTTP answer (refused, unresolvable, timed out) says so instead of "500". */
  private async reach<S extends z.ZodType>(what: string, schema: S, send: RequestFn): Promise<z.infer<S>> {
    let unanswered: string | undefined;
    try {
      return await this.api.call(what, schema, async (octokit) => {
        try {
          return await send(octokit);
        } catch (error) {
          const answered = typeof (error as { response?: unknown }).response === 'object';
          if (!answered && typeof (error as { status?: unknown }).status === 'number')
            unanswered = error instanceof Error ? error.message : String(error);
          throw error;
        }
      });
    } catch (error) {
      if (unanswered === undefined) throw error;
      const reason = redact(unanswered.split('\n', 1)[0]!.slice(0, 300), secretsOf(this.credentials));
      throw new AllowlistError(
        'github-unreachable',
        `GitHub at ${describe(this.config.apiUrl)} could not be reached on ${what}: ${reason}`,
      );
    }
  }
}
