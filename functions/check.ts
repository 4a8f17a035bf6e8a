import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

const CHECK_METHODS = ['GET', 'POST'] as const;

/** GET runs a dry check (nothing stored, no PR); POST runs a full check. Only configured targets can be named. */
export async function checkHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { assertMethod, parseCheckQuery, parseCheckBody, readBody, errorResponse, jsonResponse } = await import('./lib/http-api.js');
  try {
    assertMethod(request.method, CHECK_METHODS);
    const query = parseCheckQuery(request.url);
    const body = request.method === 'POST' ? parseCheckBody(await readBody(request)) : { targetIds: [] };
    const targetIds = [...new Set([...query.targetIds, ...body.targetIds])];
    const [{ sharedRuntime }, { runCheck }, { engineLog, logRun }] = await Promise.all([
      import('./lib/runtime.js'),
      import('../shared/engine/check.js'),
      import('./lib/run-log.js'),
    ]);
    const { config, store } = await sharedRuntime();
    const report = await runCheck({
      config,
      store,
      env: process.env,
      trigger: 'http',
      dryRun: request.method !== 'POST',
      targetIds,
      runId: context.invocationId,
      log: engineLog(context),
    });
    logRun(context, report);
    return jsonResponse(200, report);
  } catch (error) {
    const response = errorResponse(error);
    if (response.status >= 500) context.error(`check failed: ${(error as Error).message}`);
    return response;
  }
}

app.http('check', { methods: [...CHECK_METHODS], authLevel: 'function', route: 'check', handler: checkHandler });
