import type { KeyObject } from 'node:crypto';

/** The peer's public data: what tests pass in and read back. */

export interface GitHubPeerOptions {
  owner?: string;
  repo?: string;
  /** The base branch, seeded with `files` in one commit. */
  base?: string;
  files?: Record<string, string>;
  /** A personal access token the peer accepts. */
  token?: string;
  /** A GitHub App whose JWTs (signed with the matching private key) can be exchanged for installation tokens. */
  app?: { id: number; installationId: number; publicKey: KeyObject | string };
  /** Login of the identity behind the token or app (author of PRs and comments it creates). */
  botLogin?: string;
  /** The token or App may only read: the repository says push: false, installation tokens carry contents: read. */
  readOnly?: boolean;
  /** The GitHub App's slug (`GET /app`); its bot user is `<slug>[bot]`. Default: botLogin without "[bot]". */
  appSlug?: string;
  /** Login -> permission on the repository (collaborators API); the bot and octocat may write, anyone else reads. */
  permissions?: Record<string, 'admin' | 'write' | 'read' | 'none'>;
  /** The GraphQL endpoint answers 404, as on an Enterprise Server without it. */
  noGraphql?: boolean;
}

export interface RecordedRequest {
  method: string;
  /** As received, including any /api/v3 prefix and the query. */
  path: string;
  /** Decoded path below the API root, without the query: what faults match on. */
  route: string;
  operationId?: string;
  status: number;
}

export interface Violation {
  method: string;
  path: string;
  reason: string;
}

export interface PeerPullRequest {
  number: number;
  title: string;
  body: string | null;
  headRef: string;
  headSha: string;
  baseRef: string;
  state: 'open' | 'closed';
  merged: boolean;
  mergedAt: string | null;
  closedAt: string | null;
  createdAt: string;
  updatedAt: string;
  user: string;
  /** `owner/repo` of the head branch when it is not the base repository (a fork); null for a deleted fork. */
  headRepo?: string | null;
  labels: string[];
  reviewers: string[];
  teamReviewers: string[];
  comments: Array<{ id: number; body: string; user: string }>;
}

/** One entry of a pull request's timeline: what happened to it, who did it, and when, in the order it happened. */
export interface PeerTimelineEvent {
  id: number;
  event: 'closed' | 'reopened' | 'merged' | 'head_ref_deleted';
  actor: string;
  createdAt: string;
}

/** An issue that is not a pull request (the drift dashboard); numbered with pull requests, as on GitHub. */
export interface PeerIssue {
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  /** Who closed it, when closed: a person's close is theirs to undo. */
  closedBy: string | null;
  createdAt: string;
  updatedAt: string;
  user: string;
  /** The body as each edit left it, oldest first (the creation included): GraphQL's userContentEdits. */
  edits?: PeerIssueEdit[];
}

export interface PeerIssueEdit {
  editor: string;
  editedAt: string;
  body: string;
}
