import { app } from '@azure/functions';
import { httpHandler } from './lib/http-handler.js';

/**
 * The stored state without running a check: every target of the config, or, for an app with several configs, one
 * line per config (config=<name> gives that config's full status).
 */
export const statusHandler = httpHandler('status', ['GET'], async (request, _context, api) => {
  const query = api.parseConfigQuery(request.url, 'status');
  const [{ sharedRuntime }, { configStatus }] = await Promise.all([import('./lib/runtime.js'), import('../shared/engine/status-set.js')]);
  const runtime = await sharedRuntime();
  return api.jsonResponse(200, await configStatus(await runtime.configSet(), runtime.store, query.config));
});

app.http('status', { methods: ['GET'], authLevel: 'function', route: 'status', handler: statusHandler });
