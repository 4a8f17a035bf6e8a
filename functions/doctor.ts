import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

/**
 * The set-up check: config, storage, GitHub, upstreams, ARM, resolvers, one line each with the fix when it fails.
 * 200 when every check passed, 503 when one failed; the body is the same `{ checks, ok }` either way.
 */
export async function doctorHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { assertMethod, errorResponse, jsonResponse, BadRequestError } = await import('./lib/http-api.js');
  try {
    assertMethod(request.method, ['GET']);
    const extra = [...new URL(request.url).searchParams.keys()].filter((name) => name !== 'code');
    if (extra.length > 0) throw new BadRequestError('doctor takes no query parameters');
    const { runDoctorFromEnv } = await import('../shared/doctor/probes.js');
    const report = await runDoctorFromEnv(process.env);
    return jsonResponse(report.ok ? 200 : 503, report);
  } catch (error) {
    const response = errorResponse(error);
    if (response.status >= 500) context.error(`doctor failed: ${(error as Error).message}`);
    return response;
  }
}

app.http('doctor', { methods: ['GET'], authLevel: 'function', route: 'doctor', handler: doctorHandler });
