import { app } from '@azure/functions';
import { httpHandler } from './lib/http-handler.js';

/** The stored state of every target, without running a check. */
export const statusHandler = httpHandler('status', ['GET'], async (request, _context, api) => {
  api.assertNoQuery(request.url, 'status');
  const [{ sharedRuntime }, { readStatus }] = await Promise.all([import('./lib/runtime.js'), import('../shared/engine/status.js')]);
  const { config, store } = await sharedRuntime();
  return api.jsonResponse(200, await readStatus(config, store));
});

app.http('status', { methods: ['GET'], authLevel: 'function', route: 'status', handler: statusHandler });
