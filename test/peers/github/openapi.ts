import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { OpenAPIBackend, type Context, type Document } from 'openapi-backend';
import type { GitHubPeer } from './index.js';
import type { RecordedRequest } from './types.js';

/** GitHub's published OpenAPI description routes and validates every request before the peer handles it. */

/** One request on its way through the router to the peer. */
export interface Call {
  peer: GitHubPeer;
  record: RecordedRequest;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export type OpenApi = OpenAPIBackend;

let loaded: Promise<OpenApi> | undefined;

/** One router per process: parsing GitHub's 13 MB description costs about half a second. */
export function openApi(): Promise<OpenApi> {
  loaded ??= (async () => {
    const file = createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.json');
    const definition = untypedNullablesDropped(JSON.parse(readFileSync(file, 'utf8'))) as Document;
    const api = new OpenAPIBackend({
      definition,
      quick: true,
      validate: true,
      // GitHub's description uses formats Ajv does not know; check the ones that matter, ignore the rest quietly.
      ajvOpts: {
        logger: false,
        formats: {
          'date-time': /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/,
          uri: (text: string) => URL.canParse(text),
          'repo.nwo': /^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/,
        },
      },
      handlers: {
        notFound: (_context: Context, call: Call) => call.peer.reject(call.record, 404, 'no such route in the GitHub REST API'),
        methodNotAllowed: (_context: Context, call: Call) =>
          call.peer.reject(call.record, 404, 'no such method for this route in the GitHub REST API'),
        validationFail: (context: Context, call: Call) =>
          call.peer.reject(call.record, 400, `rejected by GitHub's OpenAPI description: ${JSON.stringify(context.validation.errors)}`),
        notImplemented: (context: Context, call: Call) => call.peer.dispatch(context.operation.operationId ?? '', context, call),
      },
    });
    await api.init();
    return api;
  })();
  return loaded;
}

/**
 * Some schemas (issues/create's among them) say `nullable` next to a `oneOf`
 * without a `type`, which Ajv refuses to compile. Dropping that `nullable` keeps every other rule of those schemas.
 */
function untypedNullablesDropped(node: unknown): unknown {
  if (Array.isArray(node)) node.forEach(untypedNullablesDropped);
  else if (node !== null && typeof node === 'object') {
    const schema = node as Record<string, unknown>;
    if (schema.nullable === true && schema.type === undefined) delete schema.nullable;
    Object.values(schema).forEach(untypedNullablesDropped);
  }
  return node;
}
