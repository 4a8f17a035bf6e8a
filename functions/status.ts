import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

/** The stored state of every target, without running a check. */
export async function statusHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { assertMethod, errorResponse, jsonResponse, BadRequestError } = await import('./lib/http-api.js');
  try {
    assertMethod(request.method, ['GET']);
    const extra = [...new URL(request.url).searchParams.keys()].filter((name) => name !== 'code');
    if (extra.length > 0) throw new BadRequestError('status takes no query parameters');
    const [{ sharedRuntime }, { readStatus }] = await Promise.all([import('./lib/runtime.js'), import('../shared/engine/status.js')]);
    const { config, store } = await sharedRuntime();
    return jsonResponse(200, await readStatus(config, store));
  } catch (error) {
    const response = errorResponse(error);
    if (response.status >= 500) context.error(`status failed: ${(error as Error).message}`);
    return response;
  }
}

app.http('status', { methods: ['GET'], authLevel: 'function', route: 'status', handler: statusHandler });
