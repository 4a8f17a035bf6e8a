import type { ThrottlingOptions } from '@octokit/plugin-throttling';
import type { GitHubConfig } from '../../config.js';
import type { Log } from '../../log.js';
import type { GitHubApi } from './rest.js';

export interface FileToPublish {
  path: string;
  /** Null removes the file: a numbered file of a split set that holds nothing any more, and that the tool wrote. */
  content: string | null;
}

/** The base branch's head and the files a plan was computed from. */
export interface BaseFiles {
  sha: string;
  tree: string;
  /** GitHub's ETag for the head, when it answered one: a later run asks with If-None-Match. */
  etag?: string;
  /**
   * Path -> content at `sha`, null when the file does not exist. A path with `{n}` is no key: each numbered file of
   * its set found on the branch is (shared/capacity/split-path.ts).
   */
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
  /** The configured paths (a split set's pattern, not its numbered files), as the PR marker names them. */
  paths?: string[];
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

/** What the parts of one publisher share: the REST edge, the base repository and the config's branch. */
export interface PublisherScope {
  readonly api: GitHubApi;
  readonly config: GitHubConfig;
  readonly configName: string;
  /** `${branchPrefix}${configName}`. */
  readonly branch: string;
  readonly repo: { readonly owner: string; readonly repo: string };
  readonly log: Log;
}
