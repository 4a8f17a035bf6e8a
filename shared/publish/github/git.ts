import { z } from 'zod';
import { AllowlistError } from '../../problem.js';
import { CONFIG_TRAILER, FINGERPRINT_TRAILER } from './markers.js';
import { isGitHubStatus } from './rest.js';
import { isSplitPath, numberedPaths } from '../../capacity/split-path.js';
import {
  blobSchema,
  branchSchema,
  contentSchema,
  gitCommitSchema,
  pullSchema,
  refSchema,
  treeListingSchema,
  treeSchema,
  type GitCommit,
} from './schemas.js';
import type { BaseFiles, BaseHead, FileToPublish, PublishPlan, PublisherScope } from './types.js';

/** The Git side of publishing: the base branch and its files, trees, commits, and the config's branch. */
export class GitData {
  constructor(private readonly scope: PublisherScope) {}

  /**
   * The base branch's files at `paths`. A path with `{n}` names a split set: its numbered files are found in one
   * listing of the base tree and read like the others, each under its own path; the pattern itself is no key.
   */
  async readBase(paths: readonly string[], head?: BaseHead): Promise<BaseFiles> {
    const base = head ?? (await this.baseHead());
    const patterns = paths.filter(isSplitPath);
    const listed = patterns.length > 0 ? await this.listTree(base.tree) : [];
    const read = [
      ...paths.filter((path) => !isSplitPath(path)),
      ...new Set(patterns.flatMap((pattern) => numberedPaths(pattern, listed).map((file) => file.path))),
    ];
    const contents = await Promise.all(read.map((path) => this.readAtBase(path, base.sha)));
    return { ...base, files: new Map(read.map((path, index) => [path, contents[index]!])) };
  }

  /** Every file path of a tree, in one request. */
  private async listTree(tree: string): Promise<string[]> {
    const listing = await this.scope.api.call('GET tree', treeListingSchema, (o) =>
      o.request('GET /repos/{owner}/{repo}/git/trees/{tree_sha}', { ...this.scope.repo, tree_sha: tree, recursive: 'true' }),
    );
    if (listing.truncated) {
      // A cut list could miss a numbered file, and the set would then lose its entries or reuse its number.
      throw new AllowlistError(
        'github-error',
        `The base branch's file list is too long for GitHub to answer in one read (over 100,000 entries), so the numbered files of a path with {n} cannot be found reliably; nothing was pushed.`,
      );
    }
    return listing.tree.filter((entry) => entry.type === 'blob').map((entry) => entry.path);
  }

  async baseHeadIfChanged(etag: string | undefined): Promise<BaseHead | 'unchanged'> {
    let answered: string | undefined;
    try {
      const branch = await this.scope.api.call(`GET branch ${this.scope.config.base}`, branchSchema, async (o) => {
        const response = await o.request('GET /repos/{owner}/{repo}/branches/{branch}', {
          ...this.scope.repo,
          branch: this.scope.config.base,
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

  async baseHead(): Promise<BaseHead> {
    // Asked without an ETag, GitHub answers the head itself, never 304.
    return (await this.baseHeadIfChanged(undefined)) as BaseHead;
  }

  /** One tree holding every file, built on the base tree; Git returns the same sha for the same content. */
  async buildTree(files: readonly FileToPublish[], base: { sha: string; tree: string }): Promise<string> {
    const tree = await this.scope.api.call('POST tree', treeSchema, (o) =>
      o.request('POST /repos/{owner}/{repo}/git/trees', {
        ...this.scope.repo,
        base_tree: base.tree,
        // A null content removes the file (a numbered file of a split set that emptied): Git's tree entry with a null sha.
        tree: files.map((file) =>
          file.content === null
            ? { path: file.path, mode: '100644' as const, type: 'blob' as const, sha: null }
            : { path: file.path, mode: '100644' as const, type: 'blob' as const, content: file.content },
        ),
      }),
    );
    return tree.sha;
  }

  private async readAtBase(path: string, ref: string): Promise<string | null> {
    let file: z.infer<typeof contentSchema>;
    try {
      file = await this.scope.api.call(`GET ${path}`, contentSchema, (o) =>
        o.request('GET /repos/{owner}/{repo}/contents/{path}', { ...this.scope.repo, path, ref }),
      );
    } catch (error) {
      if (isGitHubStatus(error, 404)) return null;
      throw error;
    }
    if (file.encoding === 'base64') return decodeBase64(file.content);
    // Files over 1 MB come without content from the contents API; the blob API serves up to 100 MB.
    const blob = await this.scope.api.call(`GET blob of ${path}`, blobSchema, (o) =>
      o.request('GET /repos/{owner}/{repo}/git/blobs/{file_sha}', { ...this.scope.repo, file_sha: file.sha }),
    );
    return decodeBase64(blob.content);
  }

  /**
   * Points the branch at our commit. Creating it can meet a branch left by a run that crashed after
   * pushing and before opening the pull request: take it over only if its head is ours.
   */
  async pushBranch(sha: string, exists: boolean): Promise<void> {
    if (exists) {
      try {
        await this.updateRef(sha);
        return;
      } catch (error) {
        if (!isGitHubStatus(error, 422, /Reference does not exist/i)) throw error;
      }
    }
    try {
      await this.scope.api.call('POST ref', refSchema, (o) =>
        o.request('POST /repos/{owner}/{repo}/git/refs', { ...this.scope.repo, ref: `refs/heads/${this.scope.branch}`, sha }),
      );
      return;
    } catch (error) {
      if (!isGitHubStatus(error, 422, /Reference already exists/i)) throw error;
    }
    const existing = await this.scope.api.call(`GET ref heads/${this.scope.branch}`, refSchema, (o) =>
      o.request('GET /repos/{owner}/{repo}/git/ref/{ref}', { ...this.scope.repo, ref: `heads/${this.scope.branch}` }),
    );
    if (!this.isOurs(await this.gitCommit(existing.object.sha)) && !(await this.wasMerged(existing.object.sha))) {
      throw new AllowlistError(
        'github-branch-conflict',
        `The branch ${this.scope.branch} already exists with commits allowlist-drift did not make (head ${existing.object.sha.slice(0, 12)}); delete it or change github.branchPrefix.`,
      );
    }
    await this.updateRef(sha);
  }

  /**
   * A branch left behind by a merged PR (GitHub keeps merged branches unless told otherwise) may end in
   * people's commits; they are on the base branch now, so moving the branch loses nothing.
   */
  private async wasMerged(head: string): Promise<boolean> {
    const pulls = await this.scope.api.call('GET closed pull requests', z.array(pullSchema), (o) =>
      o.request('GET /repos/{owner}/{repo}/pulls', {
        ...this.scope.repo,
        head: `${this.scope.config.owner}:${this.scope.branch}`,
        state: 'closed',
        per_page: 10,
      }),
    );
    return pulls.some((p) => p.head.sha === head && p.merged_at !== null);
  }

  private updateRef(sha: string): Promise<unknown> {
    return this.scope.api.call('PATCH ref', refSchema, (o) =>
      o.request('PATCH /repos/{owner}/{repo}/git/refs/{ref}', { ...this.scope.repo, ref: `heads/${this.scope.branch}`, sha, force: true }),
    );
  }

  async deleteBranch(branch: string): Promise<void> {
    try {
      await this.scope.api.call('DELETE ref', z.unknown(), (o) =>
        o.request('DELETE /repos/{owner}/{repo}/git/refs/{ref}', { ...this.scope.repo, ref: `heads/${branch}` }),
      );
    } catch (error) {
      if (!isGitHubStatus(error, 422, /Reference does not exist/i)) throw error;
    }
  }

  gitCommit(sha: string): Promise<GitCommit> {
    return this.scope.api.call(`GET commit ${sha.slice(0, 12)}`, gitCommitSchema, (o) =>
      o.request('GET /repos/{owner}/{repo}/git/commits/{commit_sha}', { ...this.scope.repo, commit_sha: sha }),
    );
  }

  /** The plan's commit of `tree` on `parent`, its message carrying the trailers that mark it as the tool's. */
  commit(plan: PublishPlan, on: { tree: string; parent: string }): Promise<GitCommit> {
    return this.scope.api.call('POST commit', gitCommitSchema, (o) =>
      o.request('POST /repos/{owner}/{repo}/git/commits', {
        ...this.scope.repo,
        message: this.commitMessage(plan),
        tree: on.tree,
        parents: [on.parent],
      }),
    );
  }

  private commitMessage(plan: PublishPlan): string {
    return `${plan.title}\n\n${CONFIG_TRAILER}: ${this.scope.configName}\n${FINGERPRINT_TRAILER}: ${plan.fingerprint}\n`;
  }

  isOurs(commit: GitCommit): boolean {
    return commit.message.split('\n').some((line) => line.trim() === `${CONFIG_TRAILER}: ${this.scope.configName}`);
  }
}

function decodeBase64(content: string): string {
  return Buffer.from(content.replace(/\s/g, ''), 'base64').toString('utf8');
}
