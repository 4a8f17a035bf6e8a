import { createHash } from 'node:crypto';
import type { PeerCommit } from '../git-store.js';
import type { GitHubPeer } from '../index.js';
import type { PeerIssue, PeerPullRequest } from '../types.js';

/** Response bodies: the fields clients read, named as GitHub names them. */

export function apiUrl(peer: GitHubPeer): string {
  return `https://api.github.com/repos/${peer.owner}/${peer.repo}`;
}

export function htmlUrl(peer: GitHubPeer): string {
  return `https://github.com/${peer.owner}/${peer.repo}`;
}

export function userBody(login: string) {
  return {
    login,
    id: login.length,
    node_id: `U_${login}`,
    type: login.endsWith('[bot]') ? 'Bot' : 'User',
    site_admin: false,
    url: `https://api.github.com/users/${login}`,
    html_url: `https://github.com/${login}`,
  };
}

export function gitCommitBody(peer: GitHubPeer, commit: PeerCommit) {
  const person = { name: commit.author, email: `${commit.author}@users.noreply.github.com`, date: '2025-01-01T00:00:00Z' };
  return {
    sha: commit.sha,
    node_id: `C_${commit.sha}`,
    url: `${apiUrl(peer)}/git/commits/${commit.sha}`,
    html_url: `${htmlUrl(peer)}/commit/${commit.sha}`,
    author: person,
    committer: person,
    message: commit.message,
    tree: { sha: commit.tree, url: `${apiUrl(peer)}/git/trees/${commit.tree}` },
    parents: commit.parents.map((sha) => ({ sha, url: `${apiUrl(peer)}/git/commits/${sha}`, html_url: `${htmlUrl(peer)}/commit/${sha}` })),
    verification: { verified: false, reason: 'unsigned', signature: null, payload: null, verified_at: null },
  };
}

/** The "commit" object of the branches and commits endpoints: git data nested under `commit`. */
export function commitOf(peer: GitHubPeer, sha: string) {
  const commit = peer.git.commit(sha);
  const git = gitCommitBody(peer, commit);
  return {
    sha,
    node_id: git.node_id,
    url: `${apiUrl(peer)}/commits/${sha}`,
    html_url: git.html_url,
    comments_url: `${apiUrl(peer)}/commits/${sha}/comments`,
    commit: { url: git.url, author: git.author, committer: git.committer, message: git.message, tree: git.tree, comment_count: 0 },
    author: userBody(commit.author),
    committer: userBody(commit.author),
    parents: git.parents,
  };
}

export function treeBody(peer: GitHubPeer, sha: string) {
  const tree = peer.git.tree(sha)!;
  return {
    sha,
    url: `${apiUrl(peer)}/git/trees/${sha}`,
    truncated: false,
    tree: [...tree].map(([path, blob]) => ({
      path,
      mode: '100644',
      type: 'blob',
      sha: blob,
      size: Buffer.byteLength(peer.git.blob(blob)!),
      url: `${apiUrl(peer)}/git/blobs/${blob}`,
    })),
  };
}

/**
 * A tree as "Get a tree" answers it: the top level only, or with `recursive` every file and folder below, each
 * with its full path (folders are "tree" entries; the peer's flat trees give them a sha made from their path).
 */
export function listedTreeBody(peer: GitHubPeer, sha: string, recursive: boolean) {
  const tree = peer.git.tree(sha)!;
  const folders = new Set(
    [...tree.keys()].flatMap((path) =>
      path
        .split('/')
        .slice(0, -1)
        .map((_, i, parts) => parts.slice(0, i + 1).join('/')),
    ),
  );
  const folderEntries = [...folders].map((path) => ({
    path,
    mode: '040000',
    type: 'tree',
    sha: createHash('sha1').update(`tree ${sha} ${path}`).digest('hex'),
  }));
  const blobs = [...tree].map(([path, blob]) => ({
    path,
    mode: '100644',
    type: 'blob',
    sha: blob,
    size: Buffer.byteLength(peer.git.blob(blob)!),
    url: `${apiUrl(peer)}/git/blobs/${blob}`,
  }));
  const entries = [...folderEntries, ...blobs]
    .filter((entry) => recursive || !entry.path.includes('/'))
    .sort((a, b) => (a.path < b.path ? -1 : 1))
    .map((entry) => ({ ...entry, url: 'url' in entry ? entry.url : `${apiUrl(peer)}/git/trees/${entry.sha}` }));
  return { sha, url: `${apiUrl(peer)}/git/trees/${sha}`, truncated: false, tree: entries };
}

export function refBody(peer: GitHubPeer, name: string, sha: string) {
  return {
    ref: `refs/${name}`,
    node_id: `R_${name}`,
    url: `${apiUrl(peer)}/git/refs/${name}`,
    object: { type: 'commit', sha, url: `${apiUrl(peer)}/git/commits/${sha}` },
  };
}

export function labelBody(name: string) {
  return { id: name.length, node_id: `L_${name}`, url: '', name, description: null, color: 'ededed', default: false };
}

export function commentBody(peer: GitHubPeer, number: number, comment: { id: number; body: string; user: string }) {
  return {
    id: comment.id,
    node_id: `IC_${comment.id}`,
    url: `${apiUrl(peer)}/issues/comments/${comment.id}`,
    html_url: `${htmlUrl(peer)}/pull/${number}#issuecomment-${comment.id}`,
    issue_url: `${apiUrl(peer)}/issues/${number}`,
    body: comment.body,
    user: userBody(comment.user),
    created_at: '2025-01-01T00:00:00Z',
    updated_at: '2025-01-01T00:00:00Z',
    author_association: 'NONE',
  };
}

export function issueBody(peer: GitHubPeer, issue: PeerIssue) {
  return {
    id: 500 + issue.number,
    node_id: `I_${issue.number}`,
    url: `${apiUrl(peer)}/issues/${issue.number}`,
    repository_url: apiUrl(peer),
    labels_url: `${apiUrl(peer)}/issues/${issue.number}/labels{/name}`,
    comments_url: `${apiUrl(peer)}/issues/${issue.number}/comments`,
    events_url: `${apiUrl(peer)}/issues/${issue.number}/events`,
    html_url: `${htmlUrl(peer)}/issues/${issue.number}`,
    number: issue.number,
    state: issue.state,
    state_reason: issue.state === 'closed' ? 'completed' : null,
    title: issue.title,
    body: issue.body,
    user: userBody(issue.user),
    labels: [],
    assignee: null,
    assignees: [],
    milestone: null,
    locked: false,
    comments: 0,
    created_at: issue.createdAt,
    updated_at: issue.updatedAt,
    closed_at: issue.state === 'closed' ? issue.updatedAt : null,
    closed_by: issue.closedBy ? userBody(issue.closedBy) : null,
    author_association: 'NONE',
  };
}

export function pullBody(peer: GitHubPeer, pull: PeerPullRequest) {
  const branch = (ref: string, sha: string, fullName: string | null = `${peer.owner}/${peer.repo}`) => {
    const owner = (fullName ?? 'ghost/deleted').split('/')[0]!;
    return {
      label: `${owner}:${ref}`,
      ref,
      sha,
      user: userBody(owner),
      repo:
        fullName === null
          ? null
          : {
              id: fullName === `${peer.owner}/${peer.repo}` ? 1 : fullName.length + 1,
              name: fullName.split('/')[1]!,
              full_name: fullName,
              owner: userBody(owner),
              private: true,
              html_url: `https://github.com/${fullName}`,
              default_branch: peer.base,
            },
    };
  };
  return {
    url: `${apiUrl(peer)}/pulls/${pull.number}`,
    id: 100 + pull.number,
    node_id: `PR_${pull.number}`,
    html_url: `${htmlUrl(peer)}/pull/${pull.number}`,
    issue_url: `${apiUrl(peer)}/issues/${pull.number}`,
    number: pull.number,
    state: pull.state,
    locked: false,
    title: pull.title,
    user: userBody(pull.user),
    body: pull.body,
    labels: pull.labels.map((name) => labelBody(name)),
    created_at: pull.createdAt,
    updated_at: pull.updatedAt,
    closed_at: pull.closedAt,
    merged_at: pull.mergedAt,
    merge_commit_sha: null,
    requested_reviewers: pull.reviewers.map((login) => userBody(login)),
    requested_teams: pull.teamReviewers.map((slug) => ({ id: slug.length, slug, name: slug })),
    head: branch(pull.headRef, pull.headSha, pull.headRepo),
    base: branch(pull.baseRef, peer.git.ref(`heads/${pull.baseRef}`) ?? ''),
    draft: false,
    merged: pull.merged,
    mergeable: null,
    comments: pull.comments.length,
    commits: 1,
    author_association: 'NONE',
  };
}

/** GET /repos/{owner}/{repo}: the fields clients read; `permissions` as GitHub reports them to the caller. */
export function repositoryBody(peer: GitHubPeer) {
  const at = '2025-01-01T00:00:00Z';
  return {
    id: 1296269,
    node_id: 'R_peer',
    name: peer.repo,
    full_name: `${peer.owner}/${peer.repo}`,
    owner: userBody(peer.owner),
    private: true,
    visibility: 'private',
    html_url: htmlUrl(peer),
    description: null,
    fork: false,
    url: apiUrl(peer),
    default_branch: peer.base,
    archived: false,
    disabled: false,
    created_at: at,
    updated_at: at,
    pushed_at: at,
    permissions: { admin: false, maintain: false, push: !peer.readOnly, triage: true, pull: true },
  };
}
