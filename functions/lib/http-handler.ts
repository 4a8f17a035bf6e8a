import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';

export type HttpApi = typeof import('./http-api.js');

/** What a handler does once its method is allowed; it throws the app's typed errors and `httpHandler` answers them. */
export type HttpWork = (request: HttpRequest, context: InvocationContext, api: HttpApi) => Promise<HttpResponseInit>;

/**
 * The frame every HTTP function shares: the method check, then the work, and every error mapped to its HTTP answer
 * (a 500 is also logged under the function's name). The request helpers load on the first request, not at start-up.
 */
export function httpHandler(name: string, methods: readonly string[], work: HttpWork) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const api = await import('./http-api.js');
    try {
      api.assertMethod(request.method, methods);
      return await work(request, context, api);
    } catch (error) {
      const response = api.errorResponse(error);
      if (response.status >= 500) context.error(`${name} failed: ${(error as Error).message}`);
      return response;
    }
  };
}
