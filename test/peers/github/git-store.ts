import { createHash } from 'node:crypto';

export interface PeerCommit {
  sha: string;
  tree: string;
  parents: string[];
  message: string;
  author: string;
}

/** A tree: full path -> blob sha. */
export type Tree = ReadonlyMap<string, string>;

/**
 * The Git objects and refs of one repository, content-addressed like Git's (same tree content -> same tree sha),
 * with flat trees keyed by full path: enough to compare trees and commits, not a Git implementation.
 */
export class GitStore {
  private readonly blobs = new Map<string, string>();
  private readonly trees = new Map<string, Tree>();
  private readonly commits = new Map<string, PeerCommit>();
  private readonly refs = new Map<string, string>();

  constructor(
    /** The time a new commit is made at. */
    private readonly now: () => string,
    /** Told when a ref moves to a commit (not when it is deleted). */
    private readonly onRefMoved: (name: string, sha: string) => void,
  ) {}

  putBlob(content: string): string {
    const sha = gitHash('blob', content);
    this.blobs.set(sha, content);
    return sha;
  }

  blob(sha: string): string | undefined {
    return this.blobs.get(sha);
  }

  putTree(tree: Tree): string {
    const sorted = [...tree].sort(([a], [b]) => (a < b ? -1 : 1));
    const sha = gitHash('tree', sorted.map(([path, blob]) => `100644 ${path}\0${blob}`).join(''));
    this.trees.set(sha, new Map(sorted));
    return sha;
  }

  tree(sha: string): Tree | undefined {
    return this.trees.get(sha);
  }

  putCommit(tree: string, parents: string[], message: string, author: string): PeerCommit {
    const time = this.now();
    const text = [`tree ${tree}`, ...parents.map((p) => `parent ${p}`), `author ${author} ${time}`, '', message].join('\n');
    const commit = { sha: gitHash('commit', text), tree, parents, message, author };
    this.commits.set(commit.sha, commit);
    return commit;
  }

  findCommit(sha: string): PeerCommit | undefined {
    return this.commits.get(sha);
  }

  commit(sha: string): PeerCommit {
    const commit = this.commits.get(sha);
    if (!commit) throw new Error(`no commit ${sha}`);
    return commit;
  }

  ref(name: string): string | undefined {
    return this.refs.get(name);
  }

  /** Every ref's name ("heads/main", "tags/v1"), so a test can see a branch it did not expect. */
  refNames(): string[] {
    return [...this.refs.keys()];
  }

  setRef(name: string, sha: string | undefined): void {
    if (sha === undefined) this.refs.delete(name);
    else this.refs.set(name, sha);
    if (sha === undefined) return;
    this.onRefMoved(name, sha);
  }

  isAncestor(ancestor: string, of: string): boolean {
    const seen = new Set<string>();
    const stack = [of];
    while (stack.length > 0) {
      const sha = stack.pop()!;
      if (sha === ancestor) return true;
      if (seen.has(sha)) continue;
      seen.add(sha);
      stack.push(...(this.commits.get(sha)?.parents ?? []));
    }
    return false;
  }

  /** Commits `files` (path -> content, null deletes) on top of `branch`, creating it when missing, and moves the branch. */
  commitOnBranch(branch: string, files: Record<string, string | null>, message: string, author: string): string {
    const parent = this.ref(`heads/${branch}`);
    const tree = new Map(parent ? this.trees.get(this.commit(parent).tree) : []);
    for (const [path, content] of Object.entries(files)) {
      if (content === null) tree.delete(path);
      else tree.set(path, this.putBlob(content));
    }
    const commit = this.putCommit(this.putTree(tree), parent ? [parent] : [], message, author);
    this.setRef(`heads/${branch}`, commit.sha);
    return commit.sha;
  }
}

function gitHash(type: string, content: string): string {
  const bytes = Buffer.from(content);
  return createHash('sha1').update(`${type} ${bytes.length}\0`).update(bytes).digest('hex');
}
