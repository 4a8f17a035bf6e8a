import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

/** Releases the change a target is held with (POST /api/approve?target=<id>[&fingerprint=<held fingerprint>]). */
export async function approveHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { assertMethod, parseApproveQuery, errorResponse, jsonResponse } = await import('./lib/http-api.js');
  try {
    assertMethod(request.method, ['POST']);
    const query = parseApproveQuery(request.url);
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
    return jsonResponse(200, result);
  } catch (error) {
    const response = errorResponse(error);
    if (response.status >= 500) context.error(`approve failed: ${(error as Error).message}`);
    return response;
  }
}

app.http('approve', { methods: ['POST'], authLevel: 'function', route: 'approve', handler: approveHandler });
