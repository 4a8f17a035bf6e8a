import { createHash, randomBytes, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { OpenAPIBackend, type Context, type Document } from 'openapi-backend';

/**
 * A stand-in for the GitHub REST API for one repository, on 127.0.0.1.
 * Every request is checked against GitHub's published OpenAPI description (@octokit/openapi), so a client
 * that calls a route GitHub does not have, or sends parameters or bodies GitHub would reject, shows up in
 * `violations` even when the peer's own behaviour would have let it pass.
 * Git objects are content-addressed like Git's (same tree content -> same tree sha), with flat trees keyed
 * by full path: enough to compare trees and commits, not a Git implementation.
 */

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

export interface FaultMatch {
  method?: string;
  /** Exact decoded route below the API root ("/repos/o/r/pulls"), or a pattern. */
  route?: string | RegExp;
}

export interface FaultResponse {
  status: number;
  headers?: Record<string, string>;
  /** Objects are sent as JSON; strings as-is with `contentType`. */
  body?: unknown;
  contentType?: string;
}

export interface FaultOptions {
  /** How many matching requests fail (default 1). */
  times?: number;
  /** Run the real operation first and then answer with the fault: a response lost after the change happened. */
  afterHandling?: boolean;
}

export interface PeerCommit {
  sha: string;
  tree: string;
  parents: string[];
  message: string;
  author: string;
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
  labels: string[];
  reviewers: string[];
  teamReviewers: string[];
  comments: Array<{ id: number; body: string; user: string }>;
}

type Tree = ReadonlyMap<string, string>;

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  contentType?: string;
}

interface Fault {
  match: FaultMatch;
  response: FaultResponse;
  remaining: number;
  afterHandling: boolean;
}

const HUMAN_LOGIN = 'octocat';
const API_PREFIX = '/api/v3';
/** Path parameters GitHub accepts with unescaped slashes; the OpenAPI router needs them escaped. */
const GREEDY_PARAMETER = /^(\/repos\/[^/]+\/[^/]+\/(?:contents|git\/refs|git\/ref|git\/matching-refs|branches))\/(.+)$/;

export const faults = {
  serverError: (): FaultResponse => ({ status: 502, body: { message: 'Server Error' } }),
  rateLimited: (resetInSeconds: number): FaultResponse => ({
    status: 403,
    headers: {
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + resetInSeconds),
    },
    body: { message: 'API rate limit exceeded for installation ID 1.', documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api' },
  }),
  secondaryRateLimit: (retryAfterSeconds: number): FaultResponse => ({
    status: 403,
    headers: { 'retry-after': String(retryAfterSeconds) },
    body: {
      message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
      documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits',
    },
  }),
  pullRequestExists: (owner: string, branch: string): FaultResponse => validationFailed(`A pull request already exists for ${owner}:${branch}.`),
  conflict: (): FaultResponse => ({ status: 409, body: { message: 'Reference update conflict' } }),
  html: (status = 200): FaultResponse => ({ status, body: '<!DOCTYPE html><html><body><h1>Unicorn!</h1></body></html>', contentType: 'text/html; charset=utf-8' }),
};

export class GitHubPeer {
  readonly owner: string;
  readonly repo: string;
  readonly base: string;
  readonly botLogin: string;
  /** Every request, in order. */
  readonly requests: RecordedRequest[] = [];
  /** Requests GitHub would reject or the peer does not implement; tests expect none. */
  readonly violations: Violation[] = [];
  private readonly blobs = new Map<string, string>();
  private readonly trees = new Map<string, Tree>();
  private readonly commits = new Map<string, PeerCommit>();
  private readonly refs = new Map<string, string>();
  private readonly pulls: PeerPullRequest[] = [];
  private readonly accessTokens = new Set<string>();
  private readonly pending: Fault[] = [];
  private readonly interleaved: Array<{ match: FaultMatch; action: () => void }> = [];
  private clock = Date.parse('2025-01-01T00:00:00Z');
  private nextId = 1000;

  private constructor(
    private readonly options: GitHubPeerOptions,
    readonly url: string,
    private readonly stop: () => Promise<void>,
  ) {
    this.owner = options.owner ?? 'contoso';
    this.repo = options.repo ?? 'network';
    this.base = options.base ?? 'main';
    this.botLogin = options.botLogin ?? 'allowlist-drift[bot]';
    if (options.token) this.accessTokens.add(options.token);
    this.commitOnBranch(this.base, options.files ?? { 'README.md': '# network\n' }, 'Initial commit', HUMAN_LOGIN);
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
    const parsed = typeof match === 'string' ? parseMatch(match) : match;
    this.pending.push({ match: parsed, response, remaining: options.times ?? 1, afterHandling: options.afterHandling ?? false });
  }

  countRequests(filter: FaultMatch | string = {}): number {
    const match = typeof filter === 'string' ? parseMatch(filter) : filter;
    return this.requests.filter((r) => matches(match, r.method, r.route)).length;
  }

  // --- inspection -------------------------------------------------------------------------------------------

  refSha(branch: string): string | undefined {
    return this.refs.get(`heads/${branch}`);
  }

  commit(sha: string): PeerCommit {
    const commit = this.commits.get(sha);
    if (!commit) throw new Error(`no commit ${sha}`);
    return commit;
  }

  /** Commits reachable from a branch head by first parents, newest first. */
  history(branch: string): PeerCommit[] {
    const out: PeerCommit[] = [];
    for (let sha = this.refSha(branch); sha !== undefined; sha = this.commits.get(sha)?.parents[0]) out.push(this.commit(sha));
    return out;
  }

  readFile(branchOrSha: string, path: string): string | null {
    const sha = this.refSha(branchOrSha) ?? branchOrSha;
    const blob = this.trees.get(this.commit(sha).tree)?.get(path);
    return blob === undefined ? null : this.blobs.get(blob)!;
  }

  pullRequests(): readonly PeerPullRequest[] {
    return this.pulls;
  }

  pullRequest(number: number): PeerPullRequest {
    const pull = this.pulls.find((p) => p.number === number);
    if (!pull) throw new Error(`no pull request #${number}`);
    return pull;
  }

  // --- a human at work ------------------------------------------------------------------------------------

  /** Commits `files` (path -> content) on top of `branch` as a person, like a push from a laptop. */
  pushCommit(branch: string, files: Record<string, string>, message = 'Manual change', login = HUMAN_LOGIN): string {
    return this.commitOnBranch(branch, files, message, login);
  }

  /** Someone merges another change into the base branch. */
  moveBase(files: Record<string, string>, message = 'Unrelated change'): string {
    return this.commitOnBranch(this.base, files, message, HUMAN_LOGIN);
  }

  /**
   * Squash-merges a pull request: all its commits (head against the commit the branch started from, which people's
   * commits on the branch do not change) applied on the current base.
   */
  mergePullRequest(number: number): string {
    const pull = this.pullRequest(number);
    const head = this.commit(pull.headSha);
    const baseHead = this.ref(`heads/${pull.baseRef}`)!;
    let start = head;
    while (!this.isAncestor(start.sha, baseHead)) start = this.commit(start.parents[0]!);
    const before = this.trees.get(start.tree)!;
    const after = this.trees.get(head.tree)!;
    const changed: Record<string, string> = {};
    for (const [path, blob] of after) if (before.get(path) !== blob) changed[path] = this.blobs.get(blob)!;
    const sha = this.commitOnBranch(pull.baseRef, changed, `${pull.title} (#${number})`, HUMAN_LOGIN);
    Object.assign(pull, { state: 'closed', merged: true, mergedAt: this.now(), closedAt: this.now(), updatedAt: this.now() });
    return sha;
  }

  closePullRequest(number: number): void {
    Object.assign(this.pullRequest(number), { state: 'closed', closedAt: this.now(), updatedAt: this.now() });
  }

  deleteBranch(branch: string): void {
    this.refs.delete(`heads/${branch}`);
  }

  // --- HTTP ----------------------------------------------------------------------------------------------

  private async serve(api: OpenApi, request: IncomingMessage, rawBody: string): Promise<Reply> {
    const method = request.method ?? 'GET';
    const target = new URL(request.url ?? '/', 'http://peer');
    const below = target.pathname.startsWith(`${API_PREFIX}/`) ? target.pathname.slice(API_PREFIX.length) : target.pathname;
    const routed = below.replace(GREEDY_PARAMETER, (_all, head: string, rest: string) => `${head}/${encodeURIComponent(decodeURIComponent(rest))}`);
    const record: RecordedRequest = { method, path: request.url ?? '', route: safeDecode(below), status: 0 };
    this.requests.push(record);

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
    const fault = this.takeFault(call.record);
    if (fault && !fault.afterHandling) return faultReply(fault.response);
    const auth = this.authorize(operationId, call.headers);
    if (auth) return auth;
    const params = context.request.params as Record<string, string>;
    if (params.owner !== undefined && (params.owner !== this.owner || params.repo !== this.repo)) return notFound();
    const reply = operation(this, {
      params,
      query: context.request.query as Record<string, string | undefined>,
      body: (call.body ?? {}) as Record<string, unknown>,
      accept: String(call.headers.accept ?? ''),
    });
    return fault ? faultReply(fault.response) : reply;
  }

  reject(record: RecordedRequest, status: number, reason: string): Reply {
    this.violations.push({ method: record.method, path: record.path, reason });
    record.status = status;
    return { status, body: { message: reason } };
  }

  /** Runs `action` just before the next matching request is handled: something people do on GitHub mid-run. */
  onNext(match: FaultMatch | string, action: () => void): void {
    this.interleaved.push({ match: typeof match === 'string' ? parseMatch(match) : match, action });
  }

  private takeFault(record: RecordedRequest): Fault | undefined {
    const due = this.interleaved.findIndex((entry) => matches(entry.match, record.method, record.route));
    if (due !== -1) this.interleaved.splice(due, 1)[0]!.action();
    const fault = this.pending.find((f) => f.remaining > 0 && matches(f.match, record.method, record.route));
    if (fault) fault.remaining -= 1;
    return fault;
  }

  private authorize(operationId: string, headers: IncomingMessage['headers']): Reply | undefined {
    const [scheme, credential] = String(headers.authorization ?? '').split(' ');
    if (operationId === 'apps/create-installation-access-token') {
      return scheme?.toLowerCase() === 'bearer' && credential && this.validAppJwt(credential)
        ? undefined
        : { status: 401, body: { message: 'A JSON web token could not be decoded', documentation_url: 'https://docs.github.com/rest' } };
    }
    const known = (scheme?.toLowerCase() === 'token' || scheme?.toLowerCase() === 'bearer') && credential !== undefined && this.accessTokens.has(credential);
    return known ? undefined : { status: 401, body: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' } };
  }

  private validAppJwt(jwt: string): boolean {
    const app = this.options.app;
    const [header, payload, signature] = jwt.split('.');
    if (!app || !header || !payload || !signature) return false;
    const signed = verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), app.publicKey, Buffer.from(signature, 'base64url'));
    if (!signed) return false;
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss?: unknown; exp?: number; iat?: number };
    const now = Math.floor(Date.now() / 1000);
    return String(claims.iss) === String(app.id) && (claims.exp ?? 0) > now && (claims.iat ?? Infinity) <= now + 60 && (claims.exp ?? 0) - (claims.iat ?? 0) <= 600 + 60;
  }

  // --- repository state ------------------------------------------------------------------------------------

  issueToken(installationId: number): Reply {
    if (installationId !== this.options.app?.installationId) return notFound();
    const token = `ghs_${randomBytes(18).toString('hex')}`;
    this.accessTokens.add(token);
    return {
      status: 201,
      body: {
        token,
        expires_at: new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
        permissions: { contents: 'write', pull_requests: 'write', metadata: 'read' },
        repository_selection: 'selected',
      },
    };
  }

  now(): string {
    this.clock += 1000;
    return new Date(this.clock).toISOString().replace(/\.\d+Z$/, 'Z');
  }

  newId(): number {
    return ++this.nextId;
  }

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

  ref(name: string): string | undefined {
    return this.refs.get(name);
  }

  /** Moves a ref; open pull requests from that branch follow it, as on GitHub. */
  setRef(name: string, sha: string | undefined): void {
    if (sha === undefined) this.refs.delete(name);
    else this.refs.set(name, sha);
    if (sha === undefined) return;
    for (const pull of this.pulls) if (pull.state === 'open' && `heads/${pull.headRef}` === name) pull.headSha = sha;
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

  addPull(pull: PeerPullRequest): void {
    this.pulls.push(pull);
  }

  private commitOnBranch(branch: string, files: Record<string, string>, message: string, author: string): string {
    const parent = this.refSha(branch);
    const tree = new Map(parent ? this.trees.get(this.commit(parent).tree) : []);
    for (const [path, content] of Object.entries(files)) tree.set(path, this.putBlob(content));
    const commit = this.putCommit(this.putTree(tree), parent ? [parent] : [], message, author);
    this.setRef(`heads/${branch}`, commit.sha);
    return commit.sha;
  }
}

export function startGitHubPeer(options: GitHubPeerOptions = {}): Promise<GitHubPeer> {
  return GitHubPeer.start(options);
}

// --- operations ----------------------------------------------------------------------------------------------

interface Call {
  peer: GitHubPeer;
  record: RecordedRequest;
  headers: IncomingMessage['headers'];
  body: unknown;
}

interface Input {
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  body: Record<string, unknown>;
  accept: string;
}

type Operation = (peer: GitHubPeer, input: Input) => Reply;

const OPERATIONS: Record<string, Operation> = {
  'apps/create-installation-access-token': (peer, { params }) => peer.issueToken(Number(params.installation_id)),

  'repos/get-branch': (peer, { params }) => {
    const sha = peer.ref(`heads/${params.branch}`);
    if (!sha) return { status: 404, body: { message: 'Branch not found', documentation_url: 'https://docs.github.com/rest' } };
    return { status: 200, body: { name: params.branch, commit: commitOf(peer, sha), protected: false, _links: { self: '', html: '' }, protection_url: '' } };
  },

  'repos/get-content': (peer, { params, query }) => {
    const sha = query.ref === undefined ? peer.ref(`heads/${peer.base}`) : (peer.ref(`heads/${query.ref}`) ?? query.ref);
    const commit = sha === undefined ? undefined : peer.findCommit(sha);
    if (!commit) return { status: 404, body: { message: `No commit found for the ref ${query.ref}`, documentation_url: 'https://docs.github.com/rest' } };
    const blob = peer.tree(commit.tree)?.get(params.path!);
    if (blob === undefined) return notFound();
    const content = peer.blob(blob)!;
    const name = params.path!.split('/').pop()!;
    return {
      status: 200,
      body: {
        type: 'file',
        encoding: 'base64',
        size: Buffer.byteLength(content),
        name,
        path: params.path,
        content: Buffer.from(content).toString('base64').replace(/.{60}/g, '$&\n'),
        sha: blob,
        url: `${apiUrl(peer)}/contents/${params.path}?ref=${sha}`,
        git_url: `${apiUrl(peer)}/git/blobs/${blob}`,
        html_url: `${htmlUrl(peer)}/blob/${sha}/${params.path}`,
        download_url: `https://raw.githubusercontent.com/${peer.owner}/${peer.repo}/${sha}/${params.path}`,
        _links: { self: '', git: '', html: '' },
      },
    };
  },

  'git/get-blob': (peer, { params }) => {
    const content = peer.blob(params.file_sha!);
    if (content === undefined) return notFound();
    return { status: 200, body: { sha: params.file_sha, node_id: 'B', size: Buffer.byteLength(content), url: '', content: Buffer.from(content).toString('base64'), encoding: 'base64' } };
  },

  'git/create-tree': (peer, { body }) => {
    const baseSha = body.base_tree as string | undefined;
    const base = baseSha === undefined ? new Map<string, string>() : peer.tree(baseSha);
    if (!base) return validationFailed('base_tree is not a valid tree oid');
    const tree = new Map(base);
    for (const entry of body.tree as Array<{ path: string; sha?: string | null; content?: string; type?: string }>) {
      if (entry.type !== undefined && entry.type !== 'blob') return validationFailed('the peer only supports blob entries');
      if (entry.content !== undefined) tree.set(entry.path, peer.putBlob(entry.content));
      else if (entry.sha === null) tree.delete(entry.path);
      else if (entry.sha !== undefined && peer.blob(entry.sha) !== undefined) tree.set(entry.path, entry.sha);
      else return validationFailed(`tree.sha ${entry.sha} wasn't found`);
    }
    const sha = peer.putTree(tree);
    return { status: 201, body: treeBody(peer, sha) };
  },

  'git/get-commit': (peer, { params }) => {
    const commit = peer.findCommit(params.commit_sha!);
    return commit ? { status: 200, body: gitCommitBody(peer, commit) } : notFound();
  },

  'git/create-commit': (peer, { body }) => {
    const tree = body.tree as string;
    const parents = (body.parents as string[] | undefined) ?? [];
    if (!peer.tree(tree)) return validationFailed('Tree SHA does not exist');
    if (parents.some((p) => !peer.findCommit(p))) return validationFailed('Parent SHA does not exist or is not a commit object');
    const commit = peer.putCommit(tree, parents, body.message as string, peer.botLogin);
    return { status: 201, body: gitCommitBody(peer, commit) };
  },

  'git/get-ref': (peer, { params }) => {
    const sha = peer.ref(params.ref!);
    return sha ? { status: 200, body: refBody(peer, params.ref!, sha) } : notFound();
  },

  'git/create-ref': (peer, { body }) => {
    const full = body.ref as string;
    if (!/^refs\/.+\/.+/.test(full)) return validationFailed('Reference name is not valid');
    const name = full.slice('refs/'.length);
    if (peer.ref(name)) return validationFailed('Reference already exists');
    if (!peer.findCommit(body.sha as string)) return validationFailed('Object does not exist');
    peer.setRef(name, body.sha as string);
    return { status: 201, body: refBody(peer, name, body.sha as string) };
  },

  'git/update-ref': (peer, { params, body }) => {
    const current = peer.ref(params.ref!);
    const next = body.sha as string;
    if (!current) return validationFailed('Reference does not exist');
    if (!peer.findCommit(next)) return validationFailed('Object does not exist');
    if (body.force !== true && !peer.isAncestor(current, next)) return validationFailed('Update is not a fast forward');
    peer.setRef(params.ref!, next);
    return { status: 200, body: refBody(peer, params.ref!, next) };
  },

  'git/delete-ref': (peer, { params }) => {
    if (!peer.ref(params.ref!)) return validationFailed('Reference does not exist');
    peer.setRef(params.ref!, undefined);
    return { status: 204 };
  },

  'pulls/list': (peer, { query }) => {
    const state = query.state ?? 'open';
    const [headOwner, headRef] = (query.head ?? '').includes(':') ? query.head!.split(/:(.*)/s) : [undefined, query.head];
    const perPage = Number(query.per_page ?? 30);
    const page = Number(query.page ?? 1);
    const direction = query.direction ?? ((query.sort ?? 'created') === 'created' ? 'desc' : 'asc');
    const selected = peer
      .pullRequests()
      .filter((p) => state === 'all' || p.state === state)
      .filter((p) => query.head === undefined || (headOwner === peer.owner && p.headRef === headRef))
      .filter((p) => query.base === undefined || p.baseRef === query.base)
      .sort((a, b) => (direction === 'desc' ? b.number - a.number : a.number - b.number));
    return { status: 200, body: selected.slice((page - 1) * perPage, page * perPage).map((p) => pullBody(peer, p)) };
  },

  'pulls/get': (peer, { params }) => {
    const pull = peer.pullRequests().find((p) => p.number === Number(params.pull_number));
    return pull ? { status: 200, body: pullBody(peer, pull) } : notFound();
  },

  'pulls/create': (peer, { body }) => {
    const head = String(body.head).replace(new RegExp(`^${peer.owner}:`), '');
    const base = String(body.base);
    const headSha = peer.ref(`heads/${head}`);
    const baseSha = peer.ref(`heads/${base}`);
    if (!headSha) return validationFailedField('PullRequest', 'head', 'invalid');
    if (!baseSha) return validationFailedField('PullRequest', 'base', 'invalid');
    if (peer.pullRequests().some((p) => p.state === 'open' && p.headRef === head && p.baseRef === base)) {
      return validationFailed(`A pull request already exists for ${peer.owner}:${head}.`);
    }
    if (peer.isAncestor(headSha, baseSha)) return validationFailed(`No commits between ${base} and ${head}`);
    const now = peer.now();
    const pull: PeerPullRequest = {
      number: peer.pullRequests().length + 1,
      title: String(body.title),
      body: (body.body as string | undefined) ?? null,
      headRef: head,
      headSha,
      baseRef: base,
      state: 'open',
      merged: false,
      mergedAt: null,
      closedAt: null,
      createdAt: now,
      updatedAt: now,
      user: peer.botLogin,
      labels: [],
      reviewers: [],
      teamReviewers: [],
      comments: [],
    };
    peer.addPull(pull);
    return { status: 201, body: pullBody(peer, pull) };
  },

  'pulls/update': (peer, { params, body }) => {
    const pull = peer.pullRequests().find((p) => p.number === Number(params.pull_number));
    if (!pull) return notFound();
    if (body.title !== undefined) pull.title = String(body.title);
    if (body.body !== undefined) pull.body = String(body.body);
    if (body.state === 'closed' && pull.state === 'open') Object.assign(pull, { state: 'closed', closedAt: peer.now() });
    if (body.state === 'open' && pull.state === 'closed' && !pull.merged) Object.assign(pull, { state: 'open', closedAt: null });
    pull.updatedAt = peer.now();
    return { status: 200, body: pullBody(peer, pull) };
  },

  'pulls/request-reviewers': (peer, { params, body }) => {
    const pull = peer.pullRequests().find((p) => p.number === Number(params.pull_number));
    if (!pull) return notFound();
    const reviewers = (body.reviewers as string[] | undefined) ?? [];
    if (reviewers.includes(pull.user)) return validationFailed('Review cannot be requested from pull request author.');
    pull.reviewers.push(...reviewers.filter((r) => !pull.reviewers.includes(r)));
    const teams = (body.team_reviewers as string[] | undefined) ?? [];
    pull.teamReviewers.push(...teams.filter((t) => !pull.teamReviewers.includes(t)));
    return { status: 201, body: pullBody(peer, pull) };
  },

  'issues/add-labels': (peer, { params, body }) => {
    const pull = peer.pullRequests().find((p) => p.number === Number(params.issue_number));
    if (!pull) return notFound();
    const labels = Array.isArray(body.labels) ? (body.labels as unknown[]).map((l) => (typeof l === 'string' ? l : String((l as { name: string }).name))) : [];
    pull.labels.push(...labels.filter((l) => !pull.labels.includes(l)));
    return { status: 200, body: pull.labels.map((name) => labelBody(name)) };
  },

  'issues/create-comment': (peer, { params, body }) => {
    const pull = peer.pullRequests().find((p) => p.number === Number(params.issue_number));
    if (!pull) return notFound();
    const comment = { id: peer.newId(), body: String(body.body), user: peer.botLogin };
    pull.comments.push(comment);
    return { status: 201, body: commentBody(peer, pull.number, comment) };
  },

  'issues/list-comments': (peer, { params }) => {
    const pull = peer.pullRequests().find((p) => p.number === Number(params.issue_number));
    if (!pull) return notFound();
    return { status: 200, body: pull.comments.map((c) => commentBody(peer, pull.number, c)) };
  },
};

// --- response shapes (the fields clients read, named as GitHub names them) -----------------------------------

function apiUrl(peer: GitHubPeer): string {
  return `https://api.github.com/repos/${peer.owner}/${peer.repo}`;
}

function htmlUrl(peer: GitHubPeer): string {
  return `https://github.com/${peer.owner}/${peer.repo}`;
}

function userBody(login: string) {
  return { login, id: login.length, node_id: `U_${login}`, type: login.endsWith('[bot]') ? 'Bot' : 'User', site_admin: false, url: `https://api.github.com/users/${login}`, html_url: `https://github.com/${login}` };
}

function gitCommitBody(peer: GitHubPeer, commit: PeerCommit) {
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
function commitOf(peer: GitHubPeer, sha: string) {
  const commit = peer.commit(sha);
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

function treeBody(peer: GitHubPeer, sha: string) {
  const tree = peer.tree(sha)!;
  return {
    sha,
    url: `${apiUrl(peer)}/git/trees/${sha}`,
    truncated: false,
    tree: [...tree].map(([path, blob]) => ({ path, mode: '100644', type: 'blob', sha: blob, size: Buffer.byteLength(peer.blob(blob)!), url: `${apiUrl(peer)}/git/blobs/${blob}` })),
  };
}

function refBody(peer: GitHubPeer, name: string, sha: string) {
  return { ref: `refs/${name}`, node_id: `R_${name}`, url: `${apiUrl(peer)}/git/refs/${name}`, object: { type: 'commit', sha, url: `${apiUrl(peer)}/git/commits/${sha}` } };
}

function labelBody(name: string) {
  return { id: name.length, node_id: `L_${name}`, url: '', name, description: null, color: 'ededed', default: false };
}

function commentBody(peer: GitHubPeer, number: number, comment: { id: number; body: string; user: string }) {
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

function pullBody(peer: GitHubPeer, pull: PeerPullRequest) {
  const branch = (ref: string, sha: string) => ({
    label: `${peer.owner}:${ref}`,
    ref,
    sha,
    user: userBody(peer.owner),
    repo: { id: 1, name: peer.repo, full_name: `${peer.owner}/${peer.repo}`, owner: userBody(peer.owner), private: true, html_url: htmlUrl(peer), default_branch: peer.base },
  });
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
    head: branch(pull.headRef, pull.headSha),
    base: branch(pull.baseRef, peer.ref(`heads/${pull.baseRef}`) ?? ''),
    draft: false,
    merged: pull.merged,
    mergeable: null,
    comments: pull.comments.length,
    commits: 1,
    author_association: 'NONE',
  };
}

function validationFailed(message: string): Reply {
  return { status: 422, body: { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message }], documentation_url: 'https://docs.github.com/rest' } };
}

function validationFailedField(resource: string, field: string, code: string): Reply {
  return { status: 422, body: { message: 'Validation Failed', errors: [{ resource, field, code }], documentation_url: 'https://docs.github.com/rest' } };
}

function notFound(): Reply {
  return { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' } };
}

function faultReply(response: FaultResponse): Reply {
  return { status: response.status, body: response.body, headers: response.headers, contentType: response.contentType };
}

// --- plumbing ------------------------------------------------------------------------------------------------

function gitHash(type: string, content: string): string {
  const bytes = Buffer.from(content);
  return createHash('sha1').update(`${type} ${bytes.length}\0`).update(bytes).digest('hex');
}

function parseMatch(text: string): FaultMatch {
  const [method, route] = text.split(' ');
  return route === undefined ? { route: method } : { method, route };
}

function matches(match: FaultMatch, method: string, route: string): boolean {
  if (match.method !== undefined && match.method.toUpperCase() !== method) return false;
  if (match.route === undefined) return true;
  return typeof match.route === 'string' ? match.route === route : match.route.test(route);
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function flatHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(response: ServerResponse, reply: Reply): void {
  const isText = typeof reply.body === 'string';
  const payload = reply.body === undefined ? '' : isText ? (reply.body as string) : JSON.stringify(reply.body);
  response.writeHead(reply.status, {
    'content-type': reply.contentType ?? (isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8'),
    'x-github-media-type': 'github.v3; format=json',
    'x-ratelimit-limit': '5000',
    'x-ratelimit-remaining': '4999',
    ...reply.headers,
  });
  response.end(payload);
}

type OpenApi = OpenAPIBackend;

let loaded: Promise<OpenApi> | undefined;

/** One router per process: parsing GitHub's 13 MB description costs about half a second. */
function openApi(): Promise<OpenApi> {
  loaded ??= (async () => {
    const file = createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.json');
    const definition = JSON.parse(readFileSync(file, 'utf8')) as Document;
    const api = new OpenAPIBackend({
      definition,
      quick: true,
      validate: true,
      // GitHub's description uses formats Ajv does not know; check the ones that matter, ignore the rest quietly.
      ajvOpts: {
        logger: false,
        formats: {
          'date-time': /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/,
          uri: (text: string) => URL.canParse(text),
          'repo.nwo': /^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/,
        },
      },
      handlers: {
        notFound: (_context: Context, call: Call) => call.peer.reject(call.record, 404, 'no such route in the GitHub REST API'),
        methodNotAllowed: (_context: Context, call: Call) => call.peer.reject(call.record, 404, 'no such method for this route in the GitHub REST API'),
        validationFail: (context: Context, call: Call) =>
          call.peer.reject(call.record, 400, `rejected by GitHub's OpenAPI description: ${JSON.stringify(context.validation.errors)}`),
        notImplemented: (context: Context, call: Call) => call.peer.dispatch(context.operation.operationId ?? '', context, call),
      },
    });
    await api.init();
    return api;
  })();
  return loaded;
}
