import type { Operation } from './operation.js';
import { userBody } from './shapes.js';

/** Users: who a token belongs to (GitHub answers 403 to an installation token; the peer answers for any token it knows). */
export const usersOperations: Record<string, Operation> = {
  'users/get-authenticated': (peer) => ({
    status: 200,
    body: { ...userBody(peer.botLogin), name: null, created_at: '2025-01-01T00:00:00Z', updated_at: '2025-01-01T00:00:00Z' },
  }),
};
