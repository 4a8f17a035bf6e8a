import type { Operation } from './operation.js';

/** GitHub Apps: installation access tokens. */
export const appsOperations: Record<string, Operation> = {
  'apps/create-installation-access-token': (peer, { params }) => peer.auth.issueToken(Number(params.installation_id)),
};
