import { notFound } from '../replies.js';
import type { Operation } from './operation.js';
import { commentBody, labelBody } from './shapes.js';

/** Issues API on pull requests: labels and comments. */
export const issuesOperations: Record<string, Operation> = {
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
