import { app } from '@azure/functions';
import { httpHandler } from './lib/http-handler.js';

/** Releases the change a target is held with (POST /api/approve?target=<id>[&fingerprint=<held fingerprint>]). */
export const approveHandler = httpHandler('approve', ['POST'], async (request, context, api) => {
  const query = api.parseApproveQuery(request.url);
  const [{ sharedRuntime }, { approveHeld }] = await Promise.all([import('./lib/runtime.js'), import('../shared/engine/approve.js')]);
  const { config, store } = await sharedRuntime();
  const result = await approveHeld({
    config,
    store,
    env: process.env,
    source: 'http',
    ...query,
    log: (level, message) => context[level](message),
  });
  return api.jsonResponse(200, result);
});

app.http('approve', { methods: ['POST'], authLevel: 'function', route: 'approve', handler: approveHandler });
