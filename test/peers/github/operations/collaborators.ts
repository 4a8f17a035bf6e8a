import type { Operation } from './operation.js';
import { userBody } from './shapes.js';

/** Collaborators: what a user may do in the repository (the peer's `permissions` option). */
export const collaboratorsOperations: Record<string, Operation> = {
  'repos/get-collaborator-permission-level': (peer, { params }) => {
    const login = params.username!;
    const permission = peer.permissions[login] ?? 'read';
    const role = permission === 'none' ? 'read' : permission;
    return { status: 200, body: { permission, role_name: role, user: { ...userBody(login), permissions: undefined } } };
  },
};
