import { notFound, validationFailed, validationFailedField } from '../replies.js';
import type { PeerPullRequest } from '../types.js';
import type { Operation } from './operation.js';
import { pullBody } from './shapes.js';

/** Pull requests. */
export const pullsOperations: Record<string, Operation> = {
  'pulls/list': (peer, { query }) => {
    const state = query.state ?? 'open';
    const [headOwner, headRef] = (query.head ?? '').includes(':') ? query.head!.split(/:(.*)/s) : [undefined, query.head];
    const perPage = Number(query.per_page ?? 30);
    const page = Number(query.page ?? 1);
    const direction = query.direction ?? ((query.sort ?? 'created') === 'created' ? 'desc' : 'asc');
    const selected = peer
      .pullRequests()
      .filter((p) => state === 'all' || p.state === state)
      .filter((p) => query.head === undefined || (headOwner === (p.headRepo ?? peer.owner).split('/')[0] && p.headRef === headRef))
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
    const headSha = peer.git.ref(`heads/${head}`);
    const baseSha = peer.git.ref(`heads/${base}`);
    if (!headSha) return validationFailedField('PullRequest', 'head', 'invalid');
    if (!baseSha) return validationFailedField('PullRequest', 'base', 'invalid');
    // A fork's branch of the same name is another head: only the base repository's own branches count here.
    if (peer.pullRequests().some((p) => p.state === 'open' && p.headRepo === undefined && p.headRef === head && p.baseRef === base)) {
      return validationFailed(`A pull request already exists for ${peer.owner}:${head}.`);
    }
    if (peer.git.isAncestor(headSha, baseSha)) return validationFailed(`No commits between ${base} and ${head}`);
    const now = peer.now();
    const pull: PeerPullRequest = {
      number: peer.nextNumber(),
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
    if (body.state === 'closed' && pull.state === 'open') {
      Object.assign(pull, { state: 'closed', closedAt: peer.now() });
      peer.recordEvent(pull.number, 'closed', peer.botLogin);
    }
    if (body.state === 'open' && pull.state === 'closed' && !pull.merged) {
      Object.assign(pull, { state: 'open', closedAt: null });
      peer.recordEvent(pull.number, 'reopened', peer.botLogin);
    }
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
};
