import type { GitHubPeer } from './index.js';

/**
 * Someone who can open issues and pull requests in the repository, comment, and edit what she wrote, but cannot
 * push to it or merge: what the tool must never take for its own writing. Her pull requests come from her fork.
 */
export class Outsider {
  constructor(
    private readonly peer: GitHubPeer,
    readonly login: string,
  ) {}

  openIssue(text: { title: string; body: string }): number {
    const now = this.peer.now();
    const number = this.peer.nextNumber();
    const issue = {
      number,
      title: text.title,
      body: text.body,
      state: 'open' as const,
      closedBy: null,
      createdAt: now,
      updatedAt: now,
      user: this.login,
    };
    this.peer.recordEdit(issue, this.login);
    this.peer.addIssue(issue);
    return number;
  }

  /** An author may always edit and close her own issue; anyone else's she cannot. */
  editIssue(number: number, edit: (body: string) => string): void {
    this.own(number);
    this.peer.editIssue(number, edit, this.login);
  }

  closeIssue(number: number): void {
    this.own(number);
    this.peer.closeIssue(number, this.login);
  }

  /**
   * A pull request from branch `branch` of her fork (`<login>/<repo>`) into the base branch, with one commit of
   * `files` on the base branch's head. `fork: null` opens it from a fork since deleted.
   */
  openForkPullRequest(options: {
    branch: string;
    title: string;
    body: string;
    files: Record<string, string>;
    message?: string;
    fork?: string | null;
  }): number {
    const { git } = this.peer;
    const baseHead = git.ref(`heads/${this.peer.base}`)!;
    const tree = new Map(git.tree(git.commit(baseHead).tree));
    for (const [path, content] of Object.entries(options.files)) tree.set(path, git.putBlob(content));
    const commit = git.putCommit(git.putTree(tree), [baseHead], options.message ?? options.title, this.login);
    const now = this.peer.now();
    const number = this.peer.nextNumber();
    this.peer.addPull({
      number,
      title: options.title,
      body: options.body,
      headRef: options.branch,
      headSha: commit.sha,
      headRepo: options.fork === undefined ? `${this.login}/${this.peer.repo}` : options.fork,
      baseRef: this.peer.base,
      state: 'open',
      merged: false,
      mergedAt: null,
      closedAt: null,
      createdAt: now,
      updatedAt: now,
      user: this.login,
      labels: [],
      reviewers: [],
      teamReviewers: [],
      comments: [],
    });
    return number;
  }

  /** A comment on any pull request: anyone who can read the repository can comment. */
  comment(number: number, body: string): void {
    this.peer.pullRequest(number).comments.push({ id: this.peer.newId(), body, user: this.login });
  }

  private own(number: number): void {
    if (this.peer.issue(number).user !== this.login) throw new Error(`${this.login} cannot edit issue #${number}: it is not hers`);
  }
}
