import { createHash } from 'node:crypto';
import type { Operation } from './operation.js';

/**
 * GET /meta: the document `peer.metaDocument` holds, with an ETag (a hash of it) that a conditional request may name
 * for a 304, as GitHub answers. Anyone may read it; each read is logged with the credentials it carried.
 */
export const metaOperations: Record<string, Operation> = {
  'meta/get': (peer, { ifNoneMatch, authorization }) => {
    const body = peer.metaDocument;
    const etag = `W/"${createHash('sha256').update(JSON.stringify(body)).digest('hex')}"`;
    const status = ifNoneMatch.split(',').some((tag) => tag.trim() === etag) ? 304 : 200;
    peer.metaReads.push({ authorization, status });
    return status === 304 ? { status, headers: { etag } } : { status, body, headers: { etag } };
  },
};
