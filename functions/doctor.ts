import { app } from '@azure/functions';
import { httpHandler } from './lib/http-handler.js';

/**
 * The set-up check: config, storage, GitHub, upstreams, ARM, resolvers, one line each with the fix when it fails.
 * An app with several configs checks the one named with config=<name>.
 * 200 when every check passed, 503 when one failed; the body is the same `{ checks, ok }` either way.
 */
export const doctorHandler = httpHandler('doctor', ['GET'], async (request, _context, api) => {
  const query = api.parseConfigQuery(request.url, 'doctor');
  const { runDoctorFromEnv } = await import('../shared/doctor/probes.js');
  const report = await runDoctorFromEnv(process.env, query.config !== undefined ? { configName: query.config } : {});
  return api.jsonResponse(report.ok ? 200 : 503, report);
});

app.http('doctor', { methods: ['GET'], authLevel: 'function', route: 'doctor', handler: doctorHandler });
