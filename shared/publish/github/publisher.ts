import type { ThrottlingOptions } from '@octokit/plugin-throttling';
import type { Octokit } from '@octokit/rest';
import { z } from 'zod';
import type { GitHubConfig } from '../../config.js';
import type { Log } from '../../log.js';
import { describe } from '../../net/http.js';
import { AllowlistError } from '../../problem.js';
import { tickedBy, UNKNOWN_APPROVER, type IssueRevision } from '../dashboard.js';
import { credentialsFromEnv, redact, secretsOf, type GitHubCredentials } from './auth.js';
import { octokitLogger } from './octokit-log.js';
import { codeSpan } from '../inert.js';
import { MAX_BODY_CHARS } from '../pr-text.js';

export interface FileToPublish {
  path: string;
  content: string;
}

/** The base branch's head and the files a plan was computed from. */
export interface BaseFiles {
  sha: string;
  tree: string;
  /** GitHub's ETag for the head, when it answered one: a later run asks with If-None-Match. */
  etag?: string;
  /** Path -> content at `sha`, null when the file does not exist. */
  files: Map<string, string | null>;
}

/** The base branch's head commit, and the ETag GitHub answered it with (for a later conditional request). */
export interface BaseHead {
  sha: string;
  tree: string;
  etag?: string;
}

export interface PublishPlan {
  fingerprint: string;
  title: string;
  body: string;
  /**
   * The base the files were computed against (see readBase): the commit is made on it, so a newer base commit is
   * never overwritten unseen. Without it, the files are committed on the base branch's current head.
   */
  base?: { sha: string; tree: string };
  files: FileToPublish[];
  labels: string[];
  reviewers: string[];
  teamReviewers: string[];
}

export interface PrSnapshot {
  number: number;
  url: string;
  state: 'open' | 'closed' | 'merged';
  headSha: string;
  branch: string;
  /** Who opened it (GitHub's login; "ghost" for a deleted account). */
  author: string;
  /** `owner/repo` of the head branch; null when its fork was deleted. */
  headRepo: string | null;
}

export type PublishAction = 'created' | 'updated' | 'unchanged' | 'closed' | 'none' | 'blocked';

export interface PublishResult {
  action: PublishAction;
  /** Things a person should know that did not stop the publish, such as another config's PR on the same files. */
  warnings?: { code: string; message: string }[];
  /** For 'blocked', `headSha` is the foreign head the notice was posted for: pass it back as `blockedNotice`. */
  pullRequest?: PrSnapshot;
  message?: string;
  /**
   * No pull request is open and the base branch already holds the rendered files (a merge whose record was lost,
   * or the same edit made by hand): nothing was pushed, and the proposal is what the repository already says.
   */
  alreadyOnBase?: boolean;
  /** HTTP requests sent to GitHub by this call, retries and token exchanges included. */
  requests: number;
}

export interface KnownPullRequest {
  number: number;
  headSha: string;
  /** Head sha a "blocked" notice was already posted for. */
  blockedNotice?: string;
  /** Who opened it, as the state recorded at creation; absent in records of releases before it was recorded. */
  author?: string;
}

/** What the state recorded of an item the tool created: `author` is absent in records of earlier releases. */
export interface RecordedItem {
  readonly author?: string;
}

export interface GitHubPublisher {
  /** `${branchPrefix}${configName}`: one branch per config, so reruns find their own work. */
  readonly branch: string;
  getPullRequest(number: number): Promise<PrSnapshot>;
  /** The base branch's head (or `head`, already read) and the given files at it. */
  readBase(paths: readonly string[], head?: BaseHead): Promise<BaseFiles>;
  /**
   * The base branch's head, asked with If-None-Match: `unchanged` (GitHub answers 304, which costs no rate limit)
   * while the ETag `etag` still matches. One request.
   */
  baseHeadIfChanged(etag: string | undefined): Promise<BaseHead | 'unchanged'>;
  publish(plan: PublishPlan, known?: KnownPullRequest): Promise<PublishResult>;
  /**
   * The drift went away: explain, close, and delete the branch when only allowlist-drift committed to it. The caller
   * records the withdrawal in its state first: the comment's marker (recordedWithdrawalMarker) is not read as one, so a
   * comment posted before a close that failed never makes a person's later close look like the tool's.
   */
  withdraw(known: { number: number; headSha?: string }, reason: string): Promise<PublishResult>;
  /**
   * Whether a closed PR was closed by a withdrawal known by its comment (withdrawnMarker: a renamed config's or a
   * superseded branch's PR, or a withdrawal by a release that did not record it); if so, finishes it (deletes our branch).
   * Only a marker in a comment the tool's identity (or the PR's author, the tool when it opened it) wrote counts.
   */
  finishWithdrawal(number: number): Promise<boolean>;
  /** Finishes a withdrawal the state recorded: deletes the closed PR's branch when only allowlist-drift committed to it. */
  finishRecordedWithdrawal(pull: PrSnapshot, knownHead: string): Promise<void>;
  /**
   * Whether the closed PR's last close came from its head branch being deleted while it was open (GitHub closes the PR
   * then), rather than from someone closing it: its timeline shows `head_ref_deleted` before that `closed`.
   */
  closedByBranchDeletion(number: number): Promise<boolean>;
  /** Sets the open PR's title and description (one request): for a PR whose files stay but whose text changed. */
  redescribe(number: number, text: { title: string; body: string }): Promise<PublishResult>;
  /** The dashboard issue (one request); undefined when it no longer exists (deleted or transferred). */
  getIssue(number: number): Promise<DashboardIssue | undefined>;
  /**
   * The tool's own issue whose body carries `marker`, among the repository's most recently updated issues (one
   * request, and the identity when an issue carries it). Anyone else's issue with the marker is never returned.
   */
  findIssue(marker: string): Promise<DashboardIssue | undefined>;
  createIssue(text: { title: string; body: string }): Promise<DashboardIssue>;
  /** Replaces an issue's body only: its title and state stay as people left them. */
  /** Undefined when the issue is gone (deleted or transferred). */
  editIssueBody(number: number, body: string): Promise<DashboardIssue | undefined>;
  /** The login the tool acts as: `GET /user` for a token, `<slug>[bot]` from `GET /app` for an App; asked once. */
  identity(): Promise<string>;
  /**
   * Whether a PR is the tool's own: its head is in the base repository, and it was opened by the author the state
   * recorded or, without that, by the tool's identity. A record of an earlier release (no author) whose author is
   * someone else stays the tool's when that author may push to the repository (the credentials before a change
   * from a token to an App had to): an outsider may not.
   */
  ownsPullRequest(pr: PrSnapshot, recorded?: RecordedItem): Promise<boolean>;
  /** The same for an issue (the dashboard): opened by the recorded author or the tool's identity. */
  ownsIssue(issue: DashboardIssue, recorded?: RecordedItem): Promise<boolean>;
  /**
   * Who ticked a box of the dashboard, from the issue's edit history (GraphQL `userContentEdits`); "unknown" when
   * the history cannot be read (no GraphQL, an older Enterprise Server) or does not show it.
   */
  approver(issueNumber: number, tick: { targetId: string; fingerprint: string }): Promise<string>;
  /** `foreign-marker` warnings noticed so far in this run, each issue or PR once; taking them empties the list. */
  takeWarnings(): { code: string; message: string }[];
}

export interface DashboardIssue {
  number: number;
  state: 'open' | 'closed';
  body: string;
  /** Who opened it. */
  author: string;
}

/** Bottleneck groups of @octokit/plugin-throttling that an Octokit client may be given instead of creating its own. */
export type ThrottleGroups = Partial<Pick<Extract<ThrottlingOptions, { onRateLimit: unknown }>, 'write' | 'search' | 'notifications'>>;

/** Knobs for tests; production uses the defaults, which follow GitHub's published guidance. */
export interface PublisherTuning {
  /** Unit of the retry back-off and of rate-limit waits (GitHub's headers are in seconds). Default 1000. */
  retryDelayUnitMs?: number;
  /**
   * Limiter groups handed to Octokit's throttling plugin in place of its own, which space mutating requests
   * one second apart as GitHub asks of integrations. Default: the plugin's own.
   */
  throttleGroups?: ThrottleGroups;
  /** Per HTTP attempt. Default 30 s. */
  requestTimeoutMs?: number;
  /** Retries of a failed request (5xx, network). Default 3. */
  retries?: number;
}

export interface GitHubPublisherOptions {
  github: GitHubConfig;
  configName: string;
  env: Record<string, string | undefined>;
  /** Our messages at info, Octokit's own at the levels octokit-log.ts gives them. */
  log?: Log;
  tuning?: PublisherTuning;
}

/** Marks commits made by allowlist-drift; a head without it is someone else's work and is never overwritten. */
export const CONFIG_TRAILER = 'Allowlist-Drift-Config';
export const FINGERPRINT_TRAILER = 'Allowlist-Drift-Fingerprint';

/**
 * In every PR body: finds the config's PR whatever its branch (a changed branchPrefix leaves the old one behind),
 * and, through the files it names, the PR of a config that was renamed or that writes the same files.
 */
export function pullRequestMarker(configName: string, paths: readonly string[]): string {
  return `<!-- allowlist-drift:pull-request config=${configName} files=${encodePaths(paths)} -->`;
}

export interface PullRequestMarker {
  configName: string;
  /** Absent in PRs opened by releases before the marker named its files. */
  paths?: string[];
}

/** Only a config name as the config accepts it: anything else in a marker (backticks, "-->") is not the tool's writing. */
const MARKER_PATTERN = /<!-- allowlist-drift:pull-request config=([a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)(?: files=(\S*))? -->/;

export function readPullRequestMarker(body: string | null): PullRequestMarker | undefined {
  const match = MARKER_PATTERN.exec(body ?? '');
  if (!match) return undefined;
  const [, configName, files] = match;
  return { configName: configName!, ...(files === undefined ? {} : { paths: decodePaths(files) }) };
}

function encodePaths(paths: readonly string[]): string {
  return [...new Set(paths)].sort().map(encodeURIComponent).join(',');
}

function decodePaths(files: string): string[] {
  try {
    return files === '' ? [] : files.split(',').map(decodeURIComponent);
  } catch {
    return []; // a hand-edited marker: read as naming no files
  }
}
/** In the comment that withdraws a PR: the close was the tool's own act, not a reviewer's decline. */
export function withdrawnMarker(configName: string): string {
  return `<!-- allowlist-drift:withdrawn config=${configName} -->`;
}

/**
 * In the comment of a withdrawal the config's state records: says the same to people, but is not withdrawnMarker,
 * so only the state, never the comment, makes a close the tool's own.
 */
export function recordedWithdrawalMarker(configName: string): string {
  return `<!-- allowlist-drift:withdrawn config=${configName} recorded -->`;
}

const RETRIES = 3;
/** Open PRs read in one request when looking for this config's PR. */
const PULLS_PAGE = 100;
/** Timeline events per request, and the pages read of one PR's timeline (its last close is on the last page). */
const TIMELINE_PAGE = 100;
const TIMELINE_PAGES = 10;
const RATE_LIMIT_RETRIES = 2;
const MAX_RATE_LIMIT_WAIT_SECONDS = 60;

export async function createGitHubPublisher(options: GitHubPublisherOptions): Promise<GitHubPublisher> {
  const credentials = credentialsFromEnv(options.env);
  const log = options.log ?? (() => {});
  const api = await GitHubApi.connect(options.github, credentials, log, options.tuning ?? {});
  return new OctokitPublisher(api, options.github, options.configName, log, credentials.kind);
}

// --- the publishing protocol ---------------------------------------------------------------------------------

class OctokitPublisher implements GitHubPublisher {
  readonly branch: string;
  private login: Promise<string> | undefined;
  /** Issue or PR number -> what was said about it, so that each is reported once per run. */
  private readonly foreign = new Map<number, string>();
  private readonly taken = new Set<number>();

  constructor(
    private readonly api: GitHubApi,
    private readonly config: GitHubConfig,
    private readonly configName: string,
    private readonly log: Log,
    private readonly kind: GitHubCredentials['kind'],
  ) {
    this.branch = `${config.branchPrefix}${configName}`;
  }

  // --- whose is it: the tool acts only on what its own identity wrote in the base repository ---

  identity(): Promise<string> {
    this.login ??= this.api.login(this.kind).catch((error: unknown) => {
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

  async approver(issueNumber: number, tick: { targetId: string; fingerprint: string }): Promise<string> {
    try {
      const revisions = await this.api.issueRevisions({ ...this.repo, number: issueNumber });
      const by = tickedBy(revisions, tick);
      // The tool only keeps ticks people made: its own edit as the first that shows one means the history is cut short.
      return by === undefined || sameLogin(by, await this.identity()) ? UNKNOWN_APPROVER : by;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.log('info', `Who ticked ${tick.targetId} on issue #${issueNumber} could not be read (${reason}); recorded as unknown.`);
      return UNKNOWN_APPROVER;
    }
  }

  private async ownsAuthor(author: string, recorded: RecordedItem | undefined): Promise<boolean> {
    if (recorded?.author !== undefined) return sameLogin(author, recorded.author);
    if (sameLogin(author, await this.identity())) return true;
    return recorded !== undefined && (await this.api.mayPush(this.repo, author));
  }

  /** Whether a PR is the tool's own; found by a search, so only the identity (or the recorded author) counts. */
  private async isOwnPull(pull: Pull, knownAuthor?: string): Promise<boolean> {
    if (!this.inBase(pull.head.repo?.full_name ?? null)) return false;
    const author = loginOf(pull.user);
    if (knownAuthor !== undefined && sameLogin(author, knownAuthor)) return true;
    return sameLogin(author, await this.identity());
  }

  private inBase(headRepo: string | null): boolean {
    return headRepo !== null && headRepo.toLowerCase() === `${this.config.owner}/${this.config.repo}`.toLowerCase();
  }

  /** Something someone else wrote carries the tool's marker or branch name: never acted on, reported once. */
  private noticeForeign(kind: 'issue' | 'pull request' | 'comment on', number: number, author: string, what: string): void {
    if (this.foreign.has(number)) return;
    const message = `${kind === 'comment on' ? 'A comment on' : kind === 'issue' ? 'Issue' : 'Pull request'} #${number} by ${author} carries ${what}; allowlist-drift acts only on what its own identity wrote, so it was ignored.`;
    this.foreign.set(number, message);
    this.log('info', message);
  }

  async getPullRequest(number: number): Promise<PrSnapshot> {
    const pull = await this.api.call(`GET pull request #${number}`, pullSchema, (o) =>
      o.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { ...this.repo, pull_number: number }),
    );
    return this.snapshot(pull, pull.head.sha);
  }

  async readBase(paths: readonly string[], head?: BaseHead): Promise<BaseFiles> {
    const base = head ?? (await this.baseHead());
    const contents = await Promise.all(paths.map((path) => this.readAtBase(path, base.sha)));
    return { ...base, files: new Map(paths.map((path, index) => [path, contents[index]!])) };
  }

  async baseHeadIfChanged(etag: string | undefined): Promise<BaseHead | 'unchanged'> {
    let answered: string | undefined;
    try {
      const branch = await this.api.call(`GET branch ${this.config.base}`, branchSchema, async (o) => {
        const response = await o.request('GET /repos/{owner}/{repo}/branches/{branch}', {
          ...this.repo,
          branch: this.config.base,
          ...(etag ? { headers: { 'if-none-match': etag } } : {}),
        });
        answered = typeof response.headers.etag === 'string' ? response.headers.etag : undefined;
        return response;
      });
      return { sha: branch.commit.sha, tree: branch.commit.commit.tree.sha, ...(answered ? { etag: answered } : {}) };
    } catch (error) {
      if (etag && isGitHubStatus(error, 304)) return 'unchanged';
      throw error;
    }
  }

  publish(plan: PublishPlan, known?: KnownPullRequest): Promise<PublishResult> {
    return this.counted(() => this.publishPlan(plan, known));
  }

  withdraw(
    known: { number: number; headSha?: string },
    reason: string,
    marker: string = recordedWithdrawalMarker(this.configName),
  ): Promise<PublishResult> {
    return this.counted(async () => {
      await this.comment(known.number, `${reason}\n\nClosed by allowlist-drift (config ${codeSpan(this.configName)}).\n\n${marker}`);
      const closed = await this.api.call(`PATCH pull request #${known.number}`, pullSchema, (o) =>
        o.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', { ...this.repo, pull_number: known.number, state: 'closed' }),
      );
      await this.deleteBranchIfOurs(closed, known.headSha);
      return { action: 'closed', pullRequest: this.snapshot(closed, closed.head.sha) };
    });
  }

  redescribe(number: number, text: { title: string; body: string }): Promise<PublishResult> {
    return this.counted(async () => {
      const pull = await this.api.call(`PATCH pull request #${number}`, pullSchema, (o) =>
        o.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', {
          ...this.repo,
          pull_number: number,
          title: text.title,
          body: fitBody(text.body),
        }),
      );
      return { action: 'unchanged', pullRequest: this.snapshot(pull, pull.head.sha) };
    });
  }

  async finishWithdrawal(number: number): Promise<boolean> {
    const comments = await this.api.call(`GET comments of #${number}`, z.array(commentSchema), (o) =>
      o.request('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...this.repo, issue_number: number, per_page: 100 }),
    );
    const marked = comments.filter((c) => (c.body ?? '').includes(withdrawnMarker(this.configName)));
    if (marked.length === 0) return false;
    const pull = await this.api.call(`GET pull request #${number}`, pullSchema, (o) =>
      o.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { ...this.repo, pull_number: number }),
    );
    // The PR is the tool's (the caller checked): its author is who the tool was when it opened it.
    const author = loginOf(pull.user);
    let ours = marked.some((c) => sameLogin(loginOf(c.user), author));
    for (const comment of marked) {
      if (ours) break;
      if (sameLogin(loginOf(comment.user), await this.identity())) ours = true;
      else this.noticeForeign('comment on', number, loginOf(comment.user), "allowlist-drift's withdrawal marker");
    }
    if (!ours) return false;
    await this.deleteBranchIfOurs(pull, undefined);
    return true;
  }

  async finishRecordedWithdrawal(pull: PrSnapshot, knownHead: string): Promise<void> {
    const repo = pull.headRepo === null ? null : { full_name: pull.headRepo };
    await this.deleteBranchIfOurs({ number: pull.number, head: { ref: pull.branch, sha: pull.headSha, repo } }, knownHead);
  }

  async closedByBranchDeletion(number: number): Promise<boolean> {
    let open = true;
    let deletedWhileOpen = false;
    let closedByDeletion = false;
    for (let page = 1; page <= TIMELINE_PAGES; page++) {
      const events = await this.api.call(`GET timeline of #${number}`, z.array(timelineEventSchema), (o) =>
        o.request('GET /repos/{owner}/{repo}/issues/{issue_number}/timeline', {
          ...this.repo,
          issue_number: number,
          per_page: TIMELINE_PAGE,
          page,
        }),
      );
      for (const { event } of events) {
        if (event === 'head_ref_deleted') deletedWhileOpen = open;
        else if (event === 'head_ref_restored') deletedWhileOpen = false;
        else if (event === 'reopened') [open, deletedWhileOpen] = [true, false];
        else if (event === 'closed') [open, closedByDeletion] = [false, deletedWhileOpen];
      }
      if (events.length < TIMELINE_PAGE) break;
    }
    return closedByDeletion;
  }

  // --- the dashboard issue (shared/engine/dashboard.ts decides when; each method is one request) ---

  async getIssue(number: number): Promise<DashboardIssue | undefined> {
    try {
      const issue = await this.api.call(`GET issue #${number}`, issueSchema, (o) =>
        o.request('GET /repos/{owner}/{repo}/issues/{issue_number}', { ...this.repo, issue_number: number }),
      );
      return dashboardIssue(issue);
    } catch (error) {
      if (isGitHubStatus(error, 404) || isGitHubStatus(error, 410)) return undefined;
      throw error;
    }
  }

  async findIssue(marker: string): Promise<DashboardIssue | undefined> {
    const issues = await this.api.call('GET issues', z.array(issueSchema), (o) =>
      o.request('GET /repos/{owner}/{repo}/issues', { ...this.repo, state: 'all', sort: 'updated', direction: 'desc', per_page: 100 }),
    );
    for (const issue of issues.filter((i) => !i.pull_request && (i.body ?? '').includes(marker))) {
      const found = dashboardIssue(issue);
      if (await this.ownsIssue(found)) return found;
      this.noticeForeign('issue', found.number, found.author, "allowlist-drift's dashboard marker");
    }
    return undefined;
  }

  async createIssue(text: { title: string; body: string }): Promise<DashboardIssue> {
    const issue = await this.api.call('POST issue', issueSchema, (o) =>
      o.request('POST /repos/{owner}/{repo}/issues', { ...this.repo, title: text.title, body: fitBody(text.body) }),
    );
    return dashboardIssue(issue);
  }

  async editIssueBody(number: number, body: string): Promise<DashboardIssue | undefined> {
    try {
      const issue = await this.api.call(`PATCH issue #${number}`, issueSchema, (o) =>
        o.request('PATCH /repos/{owner}/{repo}/issues/{issue_number}', { ...this.repo, issue_number: number, body: fitBody(body) }),
      );
      return dashboardIssue(issue);
    } catch (error) {
      if (isGitHubStatus(error, 404) || isGitHubStatus(error, 410)) return undefined;
      throw error;
    }
  }

  /** A closed PR's branch goes with it when only allowlist-drift committed to it; people's commits are never deleted. */
  private async deleteBranchIfOurs(pull: Pick<Pull, 'number' | 'head'>, knownHead: string | undefined): Promise<void> {
    // A fork's branch of the same name is not ours, and neither is the base repository's branch it shares a name with.
    if (!this.inBase(pull.head.repo?.full_name ?? null)) {
      this.log('info', `Kept branch ${pull.head.ref}: pull request #${pull.number} comes from another repository.`);
      return;
    }
    const headIsOurs = pull.head.sha === knownHead || this.isOurs(await this.gitCommit(pull.head.sha));
    if (headIsOurs) await this.deleteBranch(pull.head.ref);
    else this.log('info', `Kept branch ${pull.head.ref}: its head ${pull.head.sha} was not committed by allowlist-drift.`);
  }

  private async publishPlan(plan: PublishPlan, known: KnownPullRequest | undefined): Promise<Omit<PublishResult, 'requests'>> {
    const { open, superseded, foreign } = await this.findOpenPulls(
      plan.files.map((file) => file.path),
      known?.author,
    );
    if (known && open?.number !== known.number) {
      const recorded = await this.getPullRequest(known.number);
      if (recorded.state !== 'open') {
        // Merged or closed while this run was working: the next run reads what happened and acts on it.
        return {
          action: 'none',
          message: `pull request #${known.number} was ${recorded.state} during this run; the next run takes it into account`,
        };
      }
    }
    const notes = await this.closeSuperseded(superseded);
    const settled = await this.settleForeign(foreign, known);
    notes.push(...settled.notes);
    const withWarnings = <T extends Omit<PublishResult, 'requests'>>(result: T): T =>
      settled.warnings.length > 0 ? { ...result, warnings: settled.warnings } : result;
    const head = open ? await this.gitCommit(open.head.sha) : undefined;
    if (open && head && !this.isOurs(head)) return withWarnings(await this.block(open, known));

    const base = plan.base ?? (await this.baseHead());
    const tree = await this.buildTree(plan, base);
    if (!open && tree === base.tree) {
      return withWarnings({
        action: 'none',
        alreadyOnBase: true,
        message: `${this.config.base} already holds exactly these files: there is nothing to propose.`,
      });
    }
    if (open && head && head.tree.sha === tree && head.parents.length === 1 && head.parents[0]!.sha === base.sha) {
      await this.updateText(open, plan);
      return withWarnings({ action: 'unchanged', pullRequest: this.snapshot(open, head.sha) });
    }

    const commit = await this.api.call('POST commit', gitCommitSchema, (o) =>
      o.request('POST /repos/{owner}/{repo}/git/commits', { ...this.repo, message: this.commitMessage(plan), tree, parents: [base.sha] }),
    );
    await this.pushBranch(commit.sha, open !== undefined);

    if (open) {
      await this.updateText(open, plan);
      return withWarnings({ action: 'updated', pullRequest: this.snapshot(open, commit.sha) });
    }
    const created = await this.openPull(plan);
    const pullRequest = this.snapshot(created, commit.sha);
    try {
      await this.labelAndRequestReviews(created.number, plan);
    } catch (error) {
      // The pull request exists: a failure to decorate it must not hide it from the caller, who records it.
      const reason = error instanceof Error ? error.message : String(error);
      notes.push(`Pull request #${created.number} was opened, but its labels or reviewers could not be set: ${reason}`);
    }
    return withWarnings({ action: 'created', pullRequest, ...(notes.length > 0 ? { message: notes.join(' ') } : {}) });
  }

  /**
   * Open PRs of other configs that write some of this config's files. One that names exactly these files, met while
   * this config has no PR of its own, is this config's PR from before a rename: withdrawn on behalf of the old name,
   * so that a config still running under that name reads a withdrawal, not a decline. Any other overlap is two
   * configs sharing a file: each keeps the other's entries, and people hear of it.
   */
  private async settleForeign(
    foreign: readonly ForeignPull[],
    known: KnownPullRequest | undefined,
  ): Promise<{ notes: string[]; warnings: { code: string; message: string }[] }> {
    const notes: string[] = [];
    const warnings: { code: string; message: string }[] = [];
    for (const { pull, marker, sameFiles, shared } of foreign) {
      if (sameFiles && !known) {
        await this.withdraw(
          { number: pull.number },
          `allowlist-drift now proposes these files as config ${codeSpan(this.configName)} (renamed from ${codeSpan(marker.configName)}); this pull request is superseded.`,
          withdrawnMarker(marker.configName),
        );
        notes.push(
          `Closed pull request #${pull.number} of config ${marker.configName}, which names the same files: the config was renamed.`,
        );
      } else {
        warnings.push({
          code: 'shared-files',
          message: `Open pull request #${pull.number} of config "${marker.configName}" also writes ${shared.join(', ')}. Each config keeps the other's entries in these files; give each config its own files, or, if "${marker.configName}" was renamed to "${this.configName}", close #${pull.number}.`,
        });
      }
    }
    return { notes, warnings };
  }

  /** PRs of this config on another branch (github.branchPrefix changed since): withdrawn, so only one stays open. */
  private async closeSuperseded(superseded: readonly Pull[]): Promise<string[]> {
    const notes: string[] = [];
    for (const pull of superseded) {
      await this.withdraw(
        { number: pull.number },
        `allowlist-drift now proposes its changes from branch ${codeSpan(this.branch)}; this pull request from ${codeSpan(pull.head.ref)} is superseded.`,
        withdrawnMarker(this.configName),
      );
      notes.push(`Closed pull request #${pull.number} from branch ${pull.head.ref}, superseded by branch ${this.branch}.`);
    }
    return notes;
  }

  private async labelAndRequestReviews(number: number, plan: PublishPlan): Promise<void> {
    if (plan.labels.length > 0) {
      await this.api.call('POST labels', z.array(z.unknown()), (o) =>
        o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', { ...this.repo, issue_number: number, labels: plan.labels }),
      );
    }
    if (plan.reviewers.length > 0 || plan.teamReviewers.length > 0) {
      await this.api.call('POST requested reviewers', z.unknown(), (o) =>
        o.request('POST /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers', {
          ...this.repo,
          pull_number: number,
          reviewers: plan.reviewers,
          team_reviewers: plan.teamReviewers,
        }),
      );
    }
  }

  /** Someone pushed to our branch: their work wins. Say so once per foreign head, then wait for a person. */
  private async block(open: Pull, known: KnownPullRequest | undefined): Promise<Omit<PublishResult, 'requests'>> {
    const message = `Branch ${this.branch} of pull request #${open.number} has commits allowlist-drift did not make (head ${open.head.sha.slice(0, 12)}); it was not updated. Merge or close the pull request, or delete the branch, to let allowlist-drift continue.`;
    const alreadyNoticed = known?.number === open.number && known.blockedNotice === open.head.sha;
    if (!alreadyNoticed) {
      await this.comment(
        open.number,
        `allowlist-drift found new changes for this pull request but did not push them, because the branch has commits it did not make (head ${open.head.sha}).\n\nMerge or close this pull request, or delete the branch ${codeSpan(this.branch)}, and the next run will propose the current changes.`,
      );
    }
    return { action: 'blocked', pullRequest: this.snapshot(open, open.head.sha), message };
  }

  /**
   * This config's open PR, found by its branch or, when the branch name changed, by the marker in its body.
   * One page of open PRs answers both; only a repository with more open PRs than a page also asks by branch.
   * Only the tool's own PRs count (see isOwnPull): a fork's branch of the same name or a marker someone else
   * wrote is reported and left alone. The identity is asked only when such a PR is there to judge.
   */
  private async findOpenPulls(
    paths: readonly string[],
    knownAuthor?: string,
  ): Promise<{ open: Pull | undefined; superseded: Pull[]; foreign: ForeignPull[] }> {
    const listed = await this.api.call('GET pull requests', z.array(pullSchema), (o) =>
      o.request('GET /repos/{owner}/{repo}/pulls', { ...this.repo, state: 'open', per_page: PULLS_PAGE }),
    );
    const pulls = await this.ownPulls(listed, knownAuthor);
    const marked = pulls
      .filter((p) => p.state === 'open' && p.head.ref !== this.branch)
      .flatMap((pull) => {
        const marker = readPullRequestMarker(pull.body);
        return marker ? [{ pull, marker }] : [];
      });
    const superseded = marked.filter(({ marker }) => marker.configName === this.configName).map(({ pull }) => pull);
    const ours = new Set(paths);
    const foreign = marked.flatMap(({ pull, marker }): ForeignPull[] => {
      if (marker.configName === this.configName || !marker.paths) return [];
      const theirs = new Set(marker.paths);
      const shared = [...ours].filter((path) => theirs.has(path)).sort();
      if (shared.length === 0) return [];
      return [{ pull, marker, shared, sameFiles: shared.length === ours.size && shared.length === theirs.size }];
    });
    let open = pulls.find((p) => p.head.ref === this.branch && p.state === 'open');
    if (!open && listed.length === PULLS_PAGE) {
      const byBranch = await this.api.call('GET pull requests of branch', z.array(pullSchema), (o) =>
        o.request('GET /repos/{owner}/{repo}/pulls', {
          ...this.repo,
          head: `${this.config.owner}:${this.branch}`,
          state: 'open',
          per_page: 10,
        }),
      );
      open = (await this.ownPulls(byBranch, knownAuthor)).find((p) => p.head.ref === this.branch && p.state === 'open');
    }
    return { open, superseded, foreign };
  }

  /** The listed PRs that look like the tool's (its branch name or a marker) and are its own; the others reported. */
  private async ownPulls(pulls: readonly Pull[], knownAuthor: string | undefined): Promise<Pull[]> {
    const own: Pull[] = [];
    for (const pull of pulls) {
      const marked = readPullRequestMarker(pull.body) !== undefined;
      if (!marked && pull.head.ref !== this.branch) continue;
      if (await this.isOwnPull(pull, knownAuthor)) own.push(pull);
      else
        this.noticeForeign(
          'pull request',
          pull.number,
          loginOf(pull.user),
          marked ? "allowlist-drift's pull request marker" : `the branch name of allowlist-drift (${pull.head.ref})`,
        );
    }
    return own;
  }

  private async baseHead(): Promise<BaseHead> {
    // Asked without an ETag, GitHub answers the head itself, never 304.
    return (await this.baseHeadIfChanged(undefined)) as BaseHead;
  }

  /** One tree holding every file, built on the base tree; Git returns the same sha for the same content. */
  private async buildTree(plan: PublishPlan, base: { sha: string; tree: string }): Promise<string> {
    const tree = await this.api.call('POST tree', treeSchema, (o) =>
      o.request('POST /repos/{owner}/{repo}/git/trees', {
        ...this.repo,
        base_tree: base.tree,
        tree: plan.files.map((file) => ({ path: file.path, mode: '100644' as const, type: 'blob' as const, content: file.content })),
      }),
    );
    return tree.sha;
  }

  private async readAtBase(path: string, ref: string): Promise<string | null> {
    let file: z.infer<typeof contentSchema>;
    try {
      file = await this.api.call(`GET ${path}`, contentSchema, (o) =>
        o.request('GET /repos/{owner}/{repo}/contents/{path}', { ...this.repo, path, ref }),
      );
    } catch (error) {
      if (isGitHubStatus(error, 404)) return null;
      throw error;
    }
    if (file.encoding === 'base64') return decodeBase64(file.content);
    // Files over 1 MB come without content from the contents API; the blob API serves up to 100 MB.
    const blob = await this.api.call(`GET blob of ${path}`, blobSchema, (o) =>
      o.request('GET /repos/{owner}/{repo}/git/blobs/{file_sha}', { ...this.repo, file_sha: file.sha }),
    );
    return decodeBase64(blob.content);
  }

  /**
   * Points the branch at our commit. Creating it can meet a branch left by a run that crashed after
   * pushing and before opening the pull request: take it over only if its head is ours.
   */
  private async pushBranch(sha: string, exists: boolean): Promise<void> {
    if (exists) {
      try {
        await this.updateRef(sha);
        return;
      } catch (error) {
        if (!isGitHubStatus(error, 422, /Reference does not exist/i)) throw error;
      }
    }
    try {
      await this.api.call('POST ref', refSchema, (o) =>
        o.request('POST /repos/{owner}/{repo}/git/refs', { ...this.repo, ref: `refs/heads/${this.branch}`, sha }),
      );
      return;
    } catch (error) {
      if (!isGitHubStatus(error, 422, /Reference already exists/i)) throw error;
    }
    const existing = await this.api.call(`GET ref heads/${this.branch}`, refSchema, (o) =>
      o.request('GET /repos/{owner}/{repo}/git/ref/{ref}', { ...this.repo, ref: `heads/${this.branch}` }),
    );
    if (!this.isOurs(await this.gitCommit(existing.object.sha)) && !(await this.wasMerged(existing.object.sha))) {
      throw new AllowlistError(
        'github-branch-conflict',
        `The branch ${this.branch} already exists with commits allowlist-drift did not make (head ${existing.object.sha.slice(0, 12)}); delete it or change github.branchPrefix.`,
      );
    }
    await this.updateRef(sha);
  }

  /**
   * A branch left behind by a merged PR (GitHub keeps merged branches unless told otherwise) may end in
   * people's commits; they are on the base branch now, so moving the branch loses nothing.
   */
  private async wasMerged(head: string): Promise<boolean> {
    const pulls = await this.api.call('GET closed pull requests', z.array(pullSchema), (o) =>
      o.request('GET /repos/{owner}/{repo}/pulls', {
        ...this.repo,
        head: `${this.config.owner}:${this.branch}`,
        state: 'closed',
        per_page: 10,
      }),
    );
    return pulls.some((p) => p.head.sha === head && p.merged_at !== null);
  }

  private updateRef(sha: string): Promise<unknown> {
    return this.api.call('PATCH ref', refSchema, (o) =>
      o.request('PATCH /repos/{owner}/{repo}/git/refs/{ref}', { ...this.repo, ref: `heads/${this.branch}`, sha, force: true }),
    );
  }

  private async deleteBranch(branch: string): Promise<void> {
    try {
      await this.api.call('DELETE ref', z.unknown(), (o) =>
        o.request('DELETE /repos/{owner}/{repo}/git/refs/{ref}', { ...this.repo, ref: `heads/${branch}` }),
      );
    } catch (error) {
      if (!isGitHubStatus(error, 422, /Reference does not exist/i)) throw error;
    }
  }

  /** Opens the pull request, or adopts the one a lost response or a concurrent run already opened. */
  private async openPull(plan: PublishPlan): Promise<Pull> {
    try {
      return await this.api.call('POST pull request', pullSchema, (o) =>
        o.request('POST /repos/{owner}/{repo}/pulls', {
          ...this.repo,
          title: plan.title,
          body: fitBody(plan.body),
          head: this.branch,
          base: this.config.base,
        }),
      );
    } catch (error) {
      if (!isGitHubStatus(error, 422, /pull request already exists/i)) throw error;
    }
    const { open: existing } = await this.findOpenPulls(plan.files.map((file) => file.path));
    if (!existing) throw new AllowlistError('github-error', `GitHub reported an open pull request for ${this.branch} but lists none.`);
    await this.updateText(existing, plan);
    return existing;
  }

  private async updateText(pull: Pull, plan: PublishPlan): Promise<void> {
    const body = fitBody(plan.body);
    if (pull.title === plan.title && (pull.body ?? '') === body) return;
    await this.api.call(`PATCH pull request #${pull.number}`, pullSchema, (o) =>
      o.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', { ...this.repo, pull_number: pull.number, title: plan.title, body }),
    );
  }

  private async comment(number: number, body: string): Promise<void> {
    await this.api.call(`POST comment on #${number}`, commentSchema, (o) =>
      o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...this.repo, issue_number: number, body }),
    );
  }

  private gitCommit(sha: string): Promise<GitCommit> {
    return this.api.call(`GET commit ${sha.slice(0, 12)}`, gitCommitSchema, (o) =>
      o.request('GET /repos/{owner}/{repo}/git/commits/{commit_sha}', { ...this.repo, commit_sha: sha }),
    );
  }

  private commitMessage(plan: PublishPlan): string {
    return `${plan.title}\n\n${CONFIG_TRAILER}: ${this.configName}\n${FINGERPRINT_TRAILER}: ${plan.fingerprint}\n`;
  }

  private isOurs(commit: GitCommit): boolean {
    return commit.message.split('\n').some((line) => line.trim() === `${CONFIG_TRAILER}: ${this.configName}`);
  }

  private snapshot(pull: Pull, headSha: string): PrSnapshot {
    const state = pull.merged === true || pull.merged_at ? 'merged' : pull.state;
    return {
      number: pull.number,
      url: pull.html_url,
      state,
      headSha,
      branch: pull.head.ref,
      author: loginOf(pull.user),
      headRepo: pull.head.repo?.full_name ?? null,
    };
  }

  private get repo() {
    return { owner: this.config.owner, repo: this.config.repo };
  }

  private async counted(run: () => Promise<Omit<PublishResult, 'requests'>>): Promise<PublishResult> {
    const before = this.api.requests;
    const result = await run();
    return { ...result, requests: this.api.requests - before };
  }
}

function fitBody(body: string): string {
  return body.length <= MAX_BODY_CHARS
    ? body
    : `${body.slice(0, MAX_BODY_CHARS)}\n\n… (truncated: GitHub limits pull request descriptions to 65,536 characters)`;
}

function decodeBase64(content: string): string {
  return Buffer.from(content.replace(/\s/g, ''), 'base64').toString('utf8');
}

// --- the set-up check (allowlist-drift doctor) ----------------------------------------------------------------

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

const userSchema = z.object({ login: z.string() });
/** Only these fields of the exchange's answer are read: the token itself never leaves Octokit's auth hook. */
const installationAuthSchema = z.object({ installationId: z.number(), permissions: z.record(z.string(), z.string()) });
const repositorySchema = z.object({
  full_name: z.string(),
  private: z.boolean(),
  archived: z.boolean(),
  permissions: z.object({ push: z.boolean() }).optional(),
});

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

// --- responses, validated once where they enter ---------------------------------------------------------------

const sha = z.string().regex(/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/, 'a commit/tree sha');

const pullSchema = z.object({
  number: z.number().int().positive(),
  html_url: z.string(),
  state: z.enum(['open', 'closed']),
  title: z.string(),
  body: z.string().nullable(),
  merged: z.boolean().optional(),
  merged_at: z.string().nullable(),
  user: z.object({ login: z.string() }).nullable(),
  head: z.object({ ref: z.string(), sha, repo: z.object({ full_name: z.string() }).nullable() }),
});
type Pull = z.infer<typeof pullSchema>;
/** An open PR of another config that writes some of this config's files. */
interface ForeignPull {
  pull: Pull;
  marker: PullRequestMarker;
  shared: string[];
  sameFiles: boolean;
}

const branchSchema = z.object({ commit: z.object({ sha, commit: z.object({ tree: z.object({ sha }) }) }) });
const treeSchema = z.object({ sha });
const gitCommitSchema = z.object({ sha, message: z.string(), tree: z.object({ sha }), parents: z.array(z.object({ sha })) });
type GitCommit = z.infer<typeof gitCommitSchema>;
const refSchema = z.object({ object: z.object({ sha }) });
const issueSchema = z.object({
  number: z.number().int().positive(),
  state: z.enum(['open', 'closed']),
  body: z.string().nullable().optional(),
  user: z.object({ login: z.string() }).nullable(),
  pull_request: z.object({}).passthrough().optional(),
});

function dashboardIssue(issue: z.infer<typeof issueSchema>): DashboardIssue {
  return { number: issue.number, state: issue.state, body: issue.body ?? '', author: loginOf(issue.user) };
}

/** GitHub shows a deleted account as "ghost"; its items are nobody's, so never the tool's. */
function loginOf(user: { login: string } | null | undefined): string {
  return user?.login ?? 'ghost';
}

/** GitHub logins are case-insensitive. */
function sameLogin(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

const commentSchema = z.object({
  id: z.number(),
  body: z.string().nullable().optional(),
  user: z.object({ login: z.string() }).nullable().optional(),
});
/** Only the kind of each timeline event is read; committed and some other events carry none. */
const timelineEventSchema = z.object({ event: z.string().optional() });
const contentSchema = z.object({
  type: z.literal('file', 'a file (not a directory or link)'),
  encoding: z.string(),
  content: z.string(),
  sha,
});
const blobSchema = z.object({ content: z.string(), encoding: z.literal('base64') });

// --- the HTTP edge ---------------------------------------------------------------------------------------------

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

function isGitHubStatus(error: unknown, status: number, message?: RegExp): error is GitHubRequestError {
  return error instanceof GitHubRequestError && error.status === status && (message === undefined || message.test(error.githubMessage));
}

type RequestFn = (octokit: Octokit) => Promise<{ data: unknown }>;

const appSchema = z.object({ slug: z.string().min(1) });
const permissionSchema = z.object({ permission: z.string() });
/** The one GraphQL query the tool sends; test/peers/github/graphql.ts answers exactly this one. */
export const EDITS_QUERY = `query DashboardEdits($owner: String!, $repo: String!, $number: Int!) {
  repository(owner: $owner, name: $repo) {
    issue(number: $number) {
      userContentEdits(first: 50) { nodes { editedAt diff editor { login } } }
    }
  }
}`;
/** `diff` is the body as that edit left it; GitHub lists the edits newest first. */
const editsSchema = z.object({
  repository: z
    .object({
      issue: z
        .object({
          userContentEdits: z
            .object({
              nodes: z
                .array(
                  z
                    .object({
                      editedAt: z.string().nullable(),
                      diff: z.string().nullable(),
                      editor: z.object({ login: z.string() }).nullable(),
                    })
                    .nullable(),
                )
                .nullable(),
            })
            .nullable(),
        })
        .nullable(),
    })
    .nullable(),
});

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
class GitHubApi {
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
