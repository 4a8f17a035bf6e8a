import type { Operation } from './operation.js';
import { userBody } from './shapes.js';

/** GitHub Apps: installation access tokens, and the App itself (its slug names its bot user). */
export const appsOperations: Record<string, Operation> = {
  'apps/create-installation-access-token': (peer, { params }) => peer.auth.issueToken(Number(params.installation_id)),

  'apps/get-authenticated': (peer) => ({
    status: 200,
    body: {
      id: 1,
      slug: peer.appSlug,
      node_id: 'A_peer',
      owner: userBody(peer.owner),
      name: peer.appSlug,
      description: null,
      external_url: 'https://example.com',
      html_url: `https://github.com/apps/${peer.appSlug}`,
      created_at: '2025-01-01T00:00:00Z',
      updated_at: '2025-01-01T00:00:00Z',
      permissions: { contents: 'write', pull_requests: 'write', issues: 'write', metadata: 'read' },
      events: [],
    },
  }),
};
