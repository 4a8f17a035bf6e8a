import { notFound } from '../replies.js';
import type { PeerTimelineEvent } from '../types.js';
import type { Operation } from './operation.js';
import { apiUrl, userBody } from './shapes.js';

/** The issue timeline of a pull request: its state changes and head branch deletions, oldest first, in pages. */
export const timelineOperations: Record<string, Operation> = {
  'issues/list-events-for-timeline': (peer, { params, query }) => {
    const number = Number(params.issue_number);
    const known = peer.pullRequests().some((p) => p.number === number) || peer.issues().some((i) => i.number === number);
    if (!known) return notFound();
    const perPage = Number(query.per_page ?? 30);
    const page = Number(query.page ?? 1);
    const events = peer.timeline(number).slice((page - 1) * perPage, page * perPage);
    return { status: 200, body: events.map((event) => eventBody(apiUrl(peer), event)) };
  },
};

/** A state change or branch event as GitHub's timeline lists it (the state-change-issue-event schema). */
function eventBody(api: string, event: PeerTimelineEvent) {
  return {
    id: event.id,
    node_id: `E_${event.id}`,
    url: `${api}/issues/events/${event.id}`,
    actor: userBody(event.actor),
    event: event.event,
    commit_id: null,
    commit_url: null,
    created_at: event.createdAt,
    performed_via_github_app: null,
  };
}
