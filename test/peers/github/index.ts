import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'openapi-backend';
import { PeerAuth } from './auth.js';
import { FaultQueue, faultReply, matches, parseMatch, type FaultMatch, type FaultOptions, type FaultResponse } from './faults.js';
import { GitStore, type PeerCommit } from './git-store.js';
import { GRAPHQL_PATHS, serveGraphql } from './graphql.js';
import { openApi, type Call, type OpenApi } from './openapi.js';
import { OPERATIONS } from './operations/index.js';
import { sharedFile } from '../http.js';
import { notFound, type Reply } from './replies.js';
import type { GitHubPeerOptions, PeerIssue, PeerPullRequest, PeerTimelineEvent, RecordedRequest, Violation } from './types.js';
import { API_PREFIX, GREEDY_PARAMETER, flatHeaders, readBody, safeDecode, send } from './wire.js';

export { faults, type FaultMatch, type FaultOptions, type FaultResponse } from './faults.js';
export type { PeerCommit } from './git-store.js';
export type { GitHubPeerOptions, PeerIssue, PeerPullRequest, PeerTimelineEvent, RecordedRequest, Violation } from './types.js';

/**
 * A stand-in for the GitHub REST API for one repository, on 127.0.0.1.
 * Every request is checked against GitHub's published OpenAPI description (@octokit/openapi), so a client
 * that calls a route GitHub does not have, or sends parameters or bodies GitHub would reject, shows up in
 * `violations` even when the peer's own behaviour would have let it pass.
 *
 * The parts: wire.ts (HTTP plumbing), openapi.ts (routing and validation), auth.ts (tokens and app JWTs),
 * git-store.ts (Git objects and refs), faults.ts (injected failures), operations/ (what each route does, by API area),
 * graphql.ts (a small stand-in for the one GraphQL query the tool sends), outsider.ts (someone without push access).
 */

const HUMAN_LOGIN = 'octocat';

export class GitHubPeer {
  readonly owner: string;
  readonly repo: string;
  readonly base: string;
  readonly botLogin: string;
  /** See GitHubPeerOptions.readOnly. */
  readonly readOnly: boolean;
  readonly appSlug: string;
  readonly permissions: Readonly<Record<string, 'admin' | 'write' | 'read' | 'none'>>;
  /** See GitHubPeerOptions.noGraphql; tests may switch it. */
  noGraphql: boolean;
  /** Every request, in order. */
  readonly requests: RecordedRequest[] = [];
  /** Requests GitHub would reject or the peer does not implement; tests expect none. */
  readonly violations: Violation[] = [];
  /** The repository's Git objects and refs; open pull requests follow their branch when it moves, as on GitHub. */
  readonly git = new GitStore(
    () => this.now(),
    (name, sha) => this.followRef(name, sha),
  );
  readonly auth: PeerAuth;
  /** What GET /meta answers: a sample written from GitHub's schema (test/fixtures/README.md) until a test sets another. */
  metaDocument: unknown = JSON.parse(sharedFile('fixtures/github-meta/meta_sample.json').toString('utf8'));
  /** Each GET /meta the peer answered: the Authorization header it carried ('' for none) and the status. */
  readonly metaReads: Array<{ authorization: string; status: number }> = [];
  private readonly pulls: PeerPullRequest[] = [];
  private readonly issueList: PeerIssue[] = [];
  /** Pull request number -> its state changes and branch deletions, oldest first (the timeline API serves them). */
  private readonly events = new Map<number, PeerTimelineEvent[]>();
  private readonly pendingFaults = new FaultQueue();
  private clock = Date.parse('2025-01-01T00:00:00Z');
  private nextId = 1000;

  private constructor(
    options: GitHubPeerOptions,
    readonly url: string,
    private readonly stop: () => Promise<void>,
  ) {
    this.owner = options.owner ?? 'contoso';
    this.repo = options.repo ?? 'network';
    this.base = options.base ?? 'main';
    this.botLogin = options.botLogin ?? 'allowlist-drift[bot]';
    this.readOnly = options.readOnly ?? false;
    this.appSlug = options.appSlug ?? this.botLogin.replace(/\[bot\]$/, '');
    this.permissions = options.permissions ?? { [this.botLogin]: 'write', [HUMAN_LOGIN]: 'admin' };
    this.noGraphql = options.noGraphql ?? false;
    this.auth = new PeerAuth(options.app, options.token, this.readOnly);
    this.git.commitOnBranch(this.base, options.files ?? { 'README.md': '# network\n' }, 'Initial commit', HUMAN_LOGIN);
  }

  static async start(options: GitHubPeerOptions = {}): Promise<GitHubPeer> {
    const api = await openApi();
    let peer: GitHubPeer | undefined;
    const server = createServer((request, response) => {
      readBody(request)
        .then((body) => peer!.serve(api, request, body))
        .then((reply) => send(response, reply))
        .catch((error: unknown) => send(response, { status: 500, body: { message: String(error) } }));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    peer = new GitHubPeer(options, `http://127.0.0.1:${port}`, () => {
      server.closeAllConnections();
      return new Promise<void>((done) => server.close(() => done()));
    });
    return peer;
  }

  /** Base URL for GitHub Enterprise Server clients. */
  get enterpriseUrl(): string {
    return `${this.url}${API_PREFIX}`;
  }

  close(): Promise<void> {
    return this.stop();
  }

  /** The next `times` requests matching `match` get `response` instead of (or after) the real operation. */
  failNext(match: FaultMatch | string, response: FaultResponse, options: FaultOptions = {}): void {
    this.pendingFaults.add(match, response, options);
  }

  /** Runs `action` just before the next matching request is handled: something people do on GitHub mid-run. */
  onNext(match: FaultMatch | string, action: () => void): void {
    this.pendingFaults.onNext(match, action);
  }

  countRequests(filter: FaultMatch | string = {}): number {
    const match = typeof filter === 'string' ? parseMatch(filter) : filter;
    return this.requests.filter((r) => matches(match, r.method, r.route)).length;
  }

  // --- inspection -------------------------------------------------------------------------------------------

  refSha(branch: string): string | undefined {
    return this.git.ref(`heads/${branch}`);
  }

  /** Every branch of the repository, by name. */
  branches(): string[] {
    return this.git
      .refNames()
      .filter((name) => name.startsWith('heads/'))
      .map((name) => name.slice('heads/'.length));
  }

  commit(sha: string): PeerCommit {
    return this.git.commit(sha);
  }

  /** Commits reachable from a branch head by first parents, newest first. */
  history(branch: string): PeerCommit[] {
    const out: PeerCommit[] = [];
    for (let sha = this.refSha(branch); sha !== undefined; sha = this.git.findCommit(sha)?.parents[0]) out.push(this.commit(sha));
    return out;
  }

  readFile(branchOrSha: string, path: string): string | null {
    const sha = this.refSha(branchOrSha) ?? branchOrSha;
    const blob = this.git.tree(this.commit(sha).tree)?.get(path);
    return blob === undefined ? null : this.git.blob(blob)!;
  }

  pullRequests(): readonly PeerPullRequest[] {
    return this.pulls;
  }

  pullRequest(number: number): PeerPullRequest {
    const pull = this.pulls.find((p) => p.number === number);
    if (!pull) throw new Error(`no pull request #${number}`);
    return pull;
  }

  issues(): readonly PeerIssue[] {
    return this.issueList;
  }

  issue(number: number): PeerIssue {
    const issue = this.issueList.find((i) => i.number === number);
    if (!issue) throw new Error(`no issue #${number}`);
    return issue;
  }

  /** Issues and pull requests share one sequence of numbers. */
  nextNumber(): number {
    return this.pulls.length + this.issueList.length + 1;
  }

  addIssue(issue: PeerIssue): void {
    this.issueList.push(issue);
  }

  // --- a human at work ------------------------------------------------------------------------------------

  /** A person edits an issue's body in the web editor (which sends CRLF line ends), e.g. ticking a checkbox. */
  editIssue(number: number, edit: (body: string) => string, login = HUMAN_LOGIN): void {
    const issue = this.issue(number);
    issue.body = edit(issue.body ?? '').replace(/\r?\n/g, '\r\n');
    issue.updatedAt = this.now();
    this.recordEdit(issue, login);
  }

  /** GitHub keeps every version of an issue's body with its editor (GraphQL userContentEdits). */
  recordEdit(issue: PeerIssue, editor: string): void {
    (issue.edits ??= []).push({ editor, editedAt: issue.updatedAt, body: issue.body ?? '' });
  }

  closeIssue(number: number, login = HUMAN_LOGIN): void {
    Object.assign(this.issue(number), { state: 'closed', closedBy: login, updatedAt: this.now() });
  }

  reopenIssue(number: number): void {
    Object.assign(this.issue(number), { state: 'open', closedBy: null, updatedAt: this.now() });
  }

  /** Commits `files` (path -> content) on top of `branch` as a person, like a push from a laptop. */
  pushCommit(branch: string, files: Record<string, string>, message = 'Manual change', login = HUMAN_LOGIN): string {
    return this.git.commitOnBranch(branch, files, message, login);
  }

  /** Someone merges another change into the base branch. */
  moveBase(files: Record<string, string>, message = 'Unrelated change'): string {
    return this.git.commitOnBranch(this.base, files, message, HUMAN_LOGIN);
  }

  /**
   * Squash-merges a pull request: all its commits (head against the commit the branch started from, which people's
   * commits on the branch do not change) applied on the current base.
   */
  mergePullRequest(number: number): string {
    const pull = this.pullRequest(number);
    const head = this.commit(pull.headSha);
    const baseHead = this.git.ref(`heads/${pull.baseRef}`)!;
    let start = head;
    while (!this.git.isAncestor(start.sha, baseHead)) start = this.commit(start.parents[0]!);
    const before = this.git.tree(start.tree)!;
    const after = this.git.tree(head.tree)!;
    const changed: Record<string, string | null> = {};
    for (const [path, blob] of after) if (before.get(path) !== blob) changed[path] = this.git.blob(blob)!;
    for (const path of before.keys()) if (!after.has(path)) changed[path] = null;
    const sha = this.git.commitOnBranch(pull.baseRef, changed, `${pull.title} (#${number})`, HUMAN_LOGIN);
    Object.assign(pull, { state: 'closed', merged: true, mergedAt: this.now(), closedAt: this.now(), updatedAt: this.now() });
    // GitHub's timeline shows a merge as "merged" followed by "closed".
    this.recordEvent(number, 'merged', HUMAN_LOGIN);
    this.recordEvent(number, 'closed', HUMAN_LOGIN);
    return sha;
  }

  closePullRequest(number: number, login = HUMAN_LOGIN): void {
    const pull = this.pullRequest(number);
    if (pull.state === 'closed') return;
    Object.assign(pull, { state: 'closed', closedAt: this.now(), updatedAt: this.now() });
    this.recordEvent(number, 'closed', login);
  }

  /** A person reopens a closed, unmerged pull request; GitHub refuses while its head branch is gone. */
  reopenPullRequest(number: number, login = HUMAN_LOGIN): void {
    const pull = this.pullRequest(number);
    if (pull.state === 'open' || pull.merged) throw new Error(`pull request #${number} cannot be reopened`);
    if (this.git.ref(`heads/${pull.headRef}`) === undefined) throw new Error(`the head branch of #${number} was deleted`);
    Object.assign(pull, { state: 'open', closedAt: null, updatedAt: this.now(), headSha: this.git.ref(`heads/${pull.headRef}`)! });
    this.recordEvent(number, 'reopened', login);
  }

  /** A person deletes a branch; as on GitHub, an open pull request from it is closed with it. */
  deleteBranch(branch: string, login = HUMAN_LOGIN): void {
    this.git.setRef(`heads/${branch}`, undefined);
    this.branchDeleted(branch, login);
  }

  /** A branch is gone: each pull request from it shows the deletion, and an open one is closed, as GitHub does. */
  branchDeleted(branch: string, login: string): void {
    for (const pull of this.pulls.filter((p) => p.headRef === branch && !p.merged)) {
      this.recordEvent(pull.number, 'head_ref_deleted', login);
      this.closePullRequest(pull.number, login);
    }
  }

  /** The pull request's timeline, oldest first. */
  timeline(number: number): readonly PeerTimelineEvent[] {
    return this.events.get(number) ?? [];
  }

  recordEvent(number: number, event: PeerTimelineEvent['event'], actor: string): void {
    this.events.set(number, [...this.timeline(number), { id: this.newId(), event, actor, createdAt: this.now() }]);
  }

  // --- HTTP ----------------------------------------------------------------------------------------------

  private async serve(api: OpenApi, request: IncomingMessage, rawBody: string): Promise<Reply> {
    const method = request.method ?? 'GET';
    const target = new URL(request.url ?? '/', 'http://peer');
    const below = target.pathname.startsWith(`${API_PREFIX}/`) ? target.pathname.slice(API_PREFIX.length) : target.pathname;
    const routed = below.replace(
      GREEDY_PARAMETER,
      (_all, head: string, rest: string) => `${head}/${encodeURIComponent(decodeURIComponent(rest))}`,
    );
    const record: RecordedRequest = { method, path: request.url ?? '', route: safeDecode(below), status: 0 };
    this.requests.push(record);
    if (method === 'POST' && GRAPHQL_PATHS.includes(target.pathname)) {
      record.route = '/graphql';
      const fault = this.pendingFaults.take(record);
      const reply = fault ? faultReply(fault.response) : serveGraphql(this, request, record, rawBody);
      record.status = reply.status;
      return reply;
    }

    let body: unknown;
    try {
      body = rawBody === '' ? undefined : JSON.parse(rawBody);
    } catch {
      return this.reject(record, 400, 'body is not JSON');
    }
    const call: Call = { peer: this, record, headers: request.headers, body };
    const reply = (await api.handleRequest(
      { method, path: routed, headers: flatHeaders(request.headers), query: Object.fromEntries(target.searchParams), body },
      call,
    )) as Reply;
    record.status = reply.status;
    return reply;
  }

  /** Called by the OpenAPI router once the request matched an operation and passed validation. */
  dispatch(operationId: string, context: Context, call: Call): Reply {
    call.record.operationId = operationId;
    const operation = OPERATIONS[operationId];
    if (!operation) return this.reject(call.record, 501, `the peer does not implement ${operationId}`);
    const fault = this.pendingFaults.take(call.record);
    if (fault && !fault.afterHandling) return faultReply(fault.response);
    const auth = this.auth.authorize(operationId, call.headers);
    if (auth) return auth;
    const params = context.request.params as Record<string, string>;
    if (params.owner !== undefined && (params.owner !== this.owner || params.repo !== this.repo)) return notFound();
    const reply = operation(this, {
      params,
      query: context.request.query as Record<string, string | undefined>,
      body: (call.body ?? {}) as Record<string, unknown>,
      accept: String(call.headers.accept ?? ''),
      ifNoneMatch: String(call.headers['if-none-match'] ?? ''),
      authorization: String(call.headers.authorization ?? ''),
    });
    return fault ? faultReply(fault.response) : reply;
  }

  reject(record: RecordedRequest, status: number, reason: string): Reply {
    this.violations.push({ method: record.method, path: record.path, reason });
    record.status = status;
    return { status, body: { message: reason } };
  }

  // --- pull request state, for the operations ------------------------------------------------------------------

  now(): string {
    this.clock += 1000;
    return new Date(this.clock).toISOString().replace(/\.\d+Z$/, 'Z');
  }

  newId(): number {
    return ++this.nextId;
  }

  addPull(pull: PeerPullRequest): void {
    this.pulls.push(pull);
  }

  /** A branch moved: open pull requests from it follow, as on GitHub (a fork's branch of the same name does not). */
  private followRef(name: string, sha: string): void {
    for (const pull of this.pulls)
      if (pull.state === 'open' && pull.headRepo === undefined && `heads/${pull.headRef}` === name) pull.headSha = sha;
  }
}

export function startGitHubPeer(options: GitHubPeerOptions = {}): Promise<GitHubPeer> {
  return GitHubPeer.start(options);
}
