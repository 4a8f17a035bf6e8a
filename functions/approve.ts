import { app } from '@azure/functions';
import { httpHandler } from './lib/http-handler.js';

/** Releases the change a target is held with (POST /api/approve?target=<id>[&fingerprint=<held fingerprint>][&config=<name>]). */
export const approveHandler = httpHandler('approve', ['POST'], async (request, context, api) => {
  const { config: name, ...query } = api.parseApproveQuery(request.url);
  const [{ namedConfig, sharedRuntime }, { approveHeld }] = await Promise.all([
    import('./lib/runtime.js'),
    import('../shared/engine/approve.js'),
  ]);
  const runtime = await sharedRuntime();
  const result = await approveHeld({
    config: await namedConfig(runtime, name),
    store: runtime.store,
    env: process.env,
    source: 'http',
    leaseTtlMs: runtime.leaseTtlMs,
    ...query,
    log: (level, message) => context[level](message),
  });
  return api.jsonResponse(200, result);
});

app.http('approve', { methods: ['POST'], authLevel: 'function', route: 'approve', handler: approveHandler });
