import type { IncomingMessage } from 'node:http';
import type { GitHubPeer } from './index.js';
import type { Reply } from './replies.js';
import type { RecordedRequest } from './types.js';

/**
 * A small stand-in for GitHub's GraphQL endpoint (POST /graphql, or /api/graphql on an Enterprise Server). The
 * OpenAPI description covers only the REST API, so this is no schema-checked peer: it answers the one query
 * allowlist-drift sends, an issue's `userContentEdits` (who edited its body, and what each edit left), and
 * records anything else as a violation. GitHub lists the edits newest first, and `diff` is the body an edit left.
 */

export const GRAPHQL_PATHS = ['/graphql', '/api/graphql'];

export function serveGraphql(peer: GitHubPeer, request: IncomingMessage, record: RecordedRequest, rawBody: string): Reply {
  record.operationId = 'graphql';
  const auth = peer.auth.authorize('graphql', request.headers);
  if (auth) return auth;
  if (peer.noGraphql) return { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/graphql' } };
  let call: { query?: unknown; variables?: Record<string, unknown> };
  try {
    call = JSON.parse(rawBody) as typeof call;
  } catch {
    return peer.reject(record, 400, 'GraphQL body is not JSON');
  }
  const query = typeof call.query === 'string' ? call.query : '';
  const { owner, repo, number } = call.variables ?? {};
  if (!/\buserContentEdits\b/.test(query) || typeof number !== 'number') {
    return peer.reject(record, 400, `the GraphQL stand-in answers only the issue edit-history query, not: ${query.slice(0, 200)}`);
  }
  if (owner !== peer.owner || repo !== peer.repo) {
    return {
      status: 200,
      body: { data: { repository: null }, errors: [{ type: 'NOT_FOUND', message: 'Could not resolve to a Repository' }] },
    };
  }
  const issue = peer.issues().find((i) => i.number === number);
  if (!issue) {
    return {
      status: 200,
      body: { data: { repository: { issue: null } }, errors: [{ type: 'NOT_FOUND', message: 'Could not resolve to an Issue' }] },
    };
  }
  const nodes = [...(issue.edits ?? [])]
    .reverse()
    .map((edit) => ({ editedAt: edit.editedAt, diff: edit.body, editor: { login: edit.editor } }));
  return { status: 200, body: { data: { repository: { issue: { userContentEdits: { nodes } } } } } };
}
