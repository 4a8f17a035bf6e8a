import { app } from '@azure/functions';
import { httpHandler } from './lib/http-handler.js';

const CHECK_METHODS = ['GET', 'POST'] as const;

/**
 * GET runs a dry check (nothing stored, no PR); POST runs a full check. Only configured targets can be named; an app
 * with several configs needs config=<name> (one config per request: the
 * timers check them all; a whole set may take longer than Azure lets an HTTP request run).
 */
export const checkHandler = httpHandler('check', CHECK_METHODS, async (request, context, api) => {
  const query = api.parseCheckQuery(request.url);
  const body = request.method === 'POST' ? api.parseCheckBody(await api.readBody(request)) : { targetIds: [] };
  const [{ namedConfig, sharedRuntime }, { runCheck }, { engineLog, logRun }] = await Promise.all([
    import('./lib/runtime.js'),
    import('../shared/engine/check.js'),
    import('./lib/run-log.js'),
  ]);
  const runtime = await sharedRuntime();
  const config = await namedConfig(runtime, query.config);
  const report = await runCheck({
    config,
    store: runtime.store,
    documents: runtime.documents,
    env: process.env,
    trigger: 'http',
    dryRun: request.method !== 'POST',
    targetIds: [...new Set([...query.targetIds, ...body.targetIds])],
    runId: context.invocationId,
    leaseTtlMs: runtime.leaseTtlMs,
    log: engineLog(context),
  });
  logRun(context, report);
  return api.jsonResponse(200, report);
});

app.http('check', { methods: [...CHECK_METHODS], authLevel: 'function', route: 'check', handler: checkHandler });
