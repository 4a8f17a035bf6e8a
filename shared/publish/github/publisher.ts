import { z } from 'zod';
import type { GitHubConfig } from '../../config.js';
import type { Log } from '../../log.js';
import { AllowlistError } from '../../problem.js';
import { codeSpan } from '../inert.js';
import { credentialsFromEnv } from './auth.js';
import { GitData } from './git.js';
import { DashboardIssues } from './issues.js';
import { readPullRequestMarker, recordedWithdrawalMarker, withdrawnMarker, type PullRequestMarker } from './markers.js';
import { Ownership, sameLogin } from './ownership.js';
import { fitBody, GitHubApi, isGitHubStatus } from './rest.js';
import { commentSchema, loginOf, pullSchema, timelineEventSchema, type Pull } from './schemas.js';
import type {
  BaseFiles,
  BaseHead,
  DashboardIssue,
  GitHubPublisher,
  GitHubPublisherOptions,
  KnownPullRequest,
  PrSnapshot,
  PublishPlan,
  PublishResult,
  PublisherScope,
  RecordedItem,
} from './types.js';

/** Open PRs read in one request when looking for this config's PR. */
const PULLS_PAGE = 100;
/** Timeline events per request, and the pages read of one PR's timeline (its last close is on the last page). */
const TIMELINE_PAGE = 100;
const TIMELINE_PAGES = 10;

export async function createGitHubPublisher(options: GitHubPublisherOptions): Promise<GitHubPublisher> {
  const credentials = credentialsFromEnv(options.env);
  const log = options.log ?? (() => {});
  const config = options.github;
  const api = await GitHubApi.connect(config, credentials, log, options.tuning ?? {});
  const scope: PublisherScope = {
    api,
    config,
    configName: options.configName,
    branch: `${config.branchPrefix}${options.configName}`,
    repo: { owner: config.owner, repo: config.repo },
    log,
  };
  return new OctokitPublisher(scope, new Ownership(scope, credentials.kind));
}

/** An open PR of another config that writes some of this config's files. */
interface ForeignPull {
  pull: Pull;
  marker: PullRequestMarker;
  shared: string[];
  sameFiles: boolean;
}

/** The pull request's life: open, update, block, withdraw; the Git side, ownership and the dashboard issue are parts of their own. */
class OctokitPublisher implements GitHubPublisher {
  readonly branch: string;
  private readonly api: GitHubApi;
  private readonly config: GitHubConfig;
  private readonly configName: string;
  private readonly log: Log;
  private readonly repo: { owner: string; repo: string };
  private readonly git: GitData;
  private readonly issues: DashboardIssues;

  constructor(
    scope: PublisherScope,
    private readonly owners: Ownership,
  ) {
    ({ api: this.api, config: this.config, configName: this.configName, log: this.log, repo: this.repo, branch: this.branch } = scope);
    this.git = new GitData(scope);
    this.issues = new DashboardIssues(scope, owners);
  }

  // --- whose is it (ownership.ts), the base branch (git.ts) and the dashboard issue (issues.ts) ---

  identity(): Promise<string> {
    return this.owners.identity();
  }

  ownsPullRequest(pr: PrSnapshot, recorded?: RecordedItem): Promise<boolean> {
    return this.owners.ownsPullRequest(pr, recorded);
  }

  ownsIssue(issue: DashboardIssue, recorded?: RecordedItem): Promise<boolean> {
    return this.owners.ownsIssue(issue, recorded);
  }

  takeWarnings(): { code: string; message: string }[] {
    return this.owners.takeWarnings();
  }

  readBase(paths: readonly string[], head?: BaseHead): Promise<BaseFiles> {
    return this.git.readBase(paths, head);
  }

  baseHeadIfChanged(etag: string | undefined): Promise<BaseHead | 'unchanged'> {
    return this.git.baseHeadIfChanged(etag);
  }

  approver(issueNumber: number, tick: { targetId: string; fingerprint: string }): Promise<string> {
    return this.issues.approver(issueNumber, tick);
  }

  getIssue(number: number): Promise<DashboardIssue | undefined> {
    return this.issues.getIssue(number);
  }

  findIssue(marker: string): Promise<DashboardIssue | undefined> {
    return this.issues.findIssue(marker);
  }

  createIssue(text: { title: string; body: string }): Promise<DashboardIssue> {
    return this.issues.createIssue(text);
  }

  editIssueBody(number: number, body: string): Promise<DashboardIssue | undefined> {
    return this.issues.editIssueBody(number, body);
  }

  // --- the pull request ---

  async getPullRequest(number: number): Promise<PrSnapshot> {
    const pull = await this.api.call(`GET pull request #${number}`, pullSchema, (o) =>
      o.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { ...this.repo, pull_number: number }),
    );
    return this.snapshot(pull, pull.head.sha);
  }

  publish(plan: PublishPlan, known?: KnownPullRequest): Promise<PublishResult> {
    return this.counted(() => this.carryOut(plan, known));
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
      else this.owners.noticeForeign('comment on', number, loginOf(comment.user), "allowlist-drift's withdrawal marker");
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

  /** A closed PR's branch goes with it when only allowlist-drift committed to it; people's commits are never deleted. */
  private async deleteBranchIfOurs(pull: Pick<Pull, 'number' | 'head'>, knownHead: string | undefined): Promise<void> {
    // A fork's branch of the same name is not ours, and neither is the base repository's branch it shares a name with.
    if (!this.owners.inBase(pull.head.repo?.full_name ?? null)) {
      this.log('info', `Kept branch ${pull.head.ref}: pull request #${pull.number} comes from another repository.`);
      return;
    }
    const headIsOurs = pull.head.sha === knownHead || this.git.isOurs(await this.git.gitCommit(pull.head.sha));
    if (headIsOurs) await this.git.deleteBranch(pull.head.ref);
    else this.log('info', `Kept branch ${pull.head.ref}: its head ${pull.head.sha} was not committed by allowlist-drift.`);
  }

  private async carryOut(plan: PublishPlan, known: KnownPullRequest | undefined): Promise<Omit<PublishResult, 'requests'>> {
    const { open, superseded, foreign } = await this.findOpenPulls(plan.paths ?? plan.files.map((file) => file.path), known?.author);
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
    const head = open ? await this.git.gitCommit(open.head.sha) : undefined;
    if (open && head && !this.git.isOurs(head)) return withWarnings(await this.block(open, known));

    const base = plan.base ?? (await this.git.baseHead());
    const tree = await this.git.buildTree(plan.files, base);
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

    const commit = await this.git.commit(plan, { tree, parent: base.sha });
    await this.git.pushBranch(commit.sha, open !== undefined);

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
      if (await this.owners.isOwnPull(pull, knownAuthor)) own.push(pull);
      else
        this.owners.noticeForeign(
          'pull request',
          pull.number,
          loginOf(pull.user),
          marked ? "allowlist-drift's pull request marker" : `the branch name of allowlist-drift (${pull.head.ref})`,
        );
    }
    return own;
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
    const { open: existing } = await this.findOpenPulls(plan.paths ?? plan.files.map((file) => file.path));
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

  private async counted(run: () => Promise<Omit<PublishResult, 'requests'>>): Promise<PublishResult> {
    const before = this.api.requests;
    const result = await run();
    return { ...result, requests: this.api.requests - before };
  }
}
