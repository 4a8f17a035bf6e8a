import { notFound } from '../replies.js';
import type { Operation } from './operation.js';
import type { PeerIssue } from '../types.js';
import { commentBody, issueBody, labelBody } from './shapes.js';

/** Issues API: issues of their own (the dashboard), and labels and comments on pull requests. */
export const issuesOperations: Record<string, Operation> = {
  'issues/create': (peer, { body }) => {
    const now = peer.now();
    const issue: PeerIssue = {
      number: peer.nextNumber(),
      title: String(body.title),
      body: (body.body as string | undefined) ?? null,
      state: 'open',
      closedBy: null,
      createdAt: now,
      updatedAt: now,
      user: peer.botLogin,
    };
    peer.recordEdit(issue, peer.botLogin);
    peer.addIssue(issue);
    return { status: 201, body: issueBody(peer, issue) };
  },

  // The repository's own issues (the peer's pull requests are not listed here, as GitHub would).
  'issues/list-for-repo': (peer, { query }) => {
    const state = query.state ?? 'open';
    const perPage = Number(query.per_page ?? 30);
    const page = Number(query.page ?? 1);
    const key = (i: PeerIssue) => ((query.sort ?? 'created') === 'updated' ? i.updatedAt : i.createdAt);
    const selected = peer
      .issues()
      .filter((i) => state === 'all' || i.state === state)
      .sort((a, b) => (query.direction === 'asc' ? 1 : -1) * (key(a).localeCompare(key(b)) || a.number - b.number));
    return { status: 200, body: selected.slice((page - 1) * perPage, page * perPage).map((i) => issueBody(peer, i)) };
  },

  'issues/get': (peer, { params }) => {
    const issue = peer.issues().find((i) => i.number === Number(params.issue_number));
    return issue ? { status: 200, body: issueBody(peer, issue) } : notFound();
  },

  'issues/update': (peer, { params, body }) => {
    const issue = peer.issues().find((i) => i.number === Number(params.issue_number));
    if (!issue) return notFound();
    if (body.title !== undefined) issue.title = String(body.title);
    if (body.body !== undefined) issue.body = String(body.body);
    if (body.state === 'closed' && issue.state === 'open') Object.assign(issue, { state: 'closed', closedBy: peer.botLogin });
    if (body.state === 'open' && issue.state === 'closed') Object.assign(issue, { state: 'open', closedBy: null });
    issue.updatedAt = peer.now();
    if (body.body !== undefined) peer.recordEdit(issue, peer.botLogin);
    return { status: 200, body: issueBody(peer, issue) };
  },

  'issues/add-labels': (peer, { params, body }) => {
    const pull = peer.pullRequests().find((p) => p.number === Number(params.issue_number));
    if (!pull) return notFound();
    const labels = Array.isArray(body.labels)
      ? (body.labels as unknown[]).map((l) => (typeof l === 'string' ? l : String((l as { name: string }).name)))
      : [];
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
