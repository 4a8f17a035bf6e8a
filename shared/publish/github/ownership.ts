import type { GitHubCredentials } from './auth.js';
import { loginOf, type Pull } from './schemas.js';
import type { DashboardIssue, PrSnapshot, PublisherScope, RecordedItem } from './types.js';

/** GitHub logins are case-insensitive. */
export function sameLogin(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * Whose is it: the tool acts only on what its own identity wrote in the base repository. Anything else that carries
 * its marker or branch name is left alone and reported once per run.
 */
export class Ownership {
  private login: Promise<string> | undefined;
  /** Issue or PR number -> what was said about it, so that each is reported once per run. */
  private readonly foreign = new Map<number, string>();
  private readonly taken = new Set<number>();

  constructor(
    private readonly scope: PublisherScope,
    private readonly kind: GitHubCredentials['kind'],
  ) {}

  identity(): Promise<string> {
    this.login ??= this.scope.api.login(this.kind).catch((error: unknown) => {
      this.login = undefined;
      throw error;
    });
    return this.login;
  }

  async ownsPullRequest(pr: PrSnapshot, recorded?: RecordedItem): Promise<boolean> {
    if (!this.inBase(pr.headRepo)) return false;
    return this.ownsAuthor(pr.author, recorded);
  }

  ownsIssue(issue: DashboardIssue, recorded?: RecordedItem): Promise<boolean> {
    return this.ownsAuthor(issue.author, recorded);
  }

  takeWarnings(): { code: string; message: string }[] {
    const warnings = [...this.foreign].filter(([number]) => !this.taken.has(number));
    for (const [number] of warnings) this.taken.add(number);
    return warnings.map(([, message]) => ({ code: 'foreign-marker', message }));
  }

  private async ownsAuthor(author: string, recorded: RecordedItem | undefined): Promise<boolean> {
    if (recorded?.author !== undefined) return sameLogin(author, recorded.author);
    if (sameLogin(author, await this.identity())) return true;
    return recorded !== undefined && (await this.scope.api.mayPush(this.scope.repo, author));
  }

  /** Whether a PR is the tool's own; found by a search, so only the identity (or the recorded author) counts. */
  async isOwnPull(pull: Pull, knownAuthor?: string): Promise<boolean> {
    if (!this.inBase(pull.head.repo?.full_name ?? null)) return false;
    const author = loginOf(pull.user);
    if (knownAuthor !== undefined && sameLogin(author, knownAuthor)) return true;
    return sameLogin(author, await this.identity());
  }

  inBase(headRepo: string | null): boolean {
    return headRepo !== null && headRepo.toLowerCase() === `${this.scope.config.owner}/${this.scope.config.repo}`.toLowerCase();
  }

  /** Something someone else wrote carries the tool's marker or branch name: never acted on, reported once. */
  noticeForeign(kind: 'issue' | 'pull request' | 'comment on', number: number, author: string, what: string): void {
    if (this.foreign.has(number)) return;
    const message = `${kind === 'comment on' ? 'A comment on' : kind === 'issue' ? 'Issue' : 'Pull request'} #${number} by ${author} carries ${what}; allowlist-drift acts only on what its own identity wrote, so it was ignored.`;
    this.foreign.set(number, message);
    this.scope.log('info', message);
  }
}
