import { app, type InvocationContext, type Timer } from '@azure/functions';
import type { TargetType } from '../shared/config.js';

/**
 * A scheduled full check of some target types. Both timers reconcile the same single PR:
 * observations are stored per target and publishing always covers the whole config.
 */
export function scheduledCheck(targetTypes: readonly TargetType[]) {
  const run = scheduledRun(targetTypes);
  return async (timer: Timer, context: InvocationContext): Promise<void> => {
    // The first timer invocation of the process also runs the set-up check (doctor), beside the run, not before it.
    const startup = startupChecked ? undefined : ((startupChecked = true), logStartupChecks(context));
    try {
      await run(timer, context);
    } finally {
      await startup;
    }
  };
}

let startupChecked = false;

/** One line per failed check and a summary; never throws, so it cannot fail the run it accompanies. */
async function logStartupChecks(context: InvocationContext): Promise<void> {
  try {
    const [{ runDoctorFromEnv }, { doctorFailures, doctorSummary }] = await Promise.all([
      import('../shared/doctor-probes.js'),
      import('../shared/doctor.js'),
    ]);
    const report = await runDoctorFromEnv(process.env);
    for (const line of doctorFailures(report)) context.warn(line);
    context.log(`${doctorSummary(report)} (start-up check of this worker; GET /api/doctor runs it again)`);
  } catch (error) {
    context.warn(`doctor: the start-up check could not run: ${(error as Error).message}`);
  }
}

function scheduledRun(targetTypes: readonly TargetType[]) {
  return async (timer: Timer, context: InvocationContext): Promise<void> => {
    if (timer.isPastDue) context.warn(`${context.functionName} is running late (past due): a previous run or the host was delayed`);
    const [{ sharedRuntime }, { runCheck }, { engineLog, logRun }] = await Promise.all([
      import('./lib/runtime.js'),
      import('../shared/engine/check.js'),
      import('./lib/run-log.js'),
    ]);
    const { config, store } = await sharedRuntime();
    try {
      const report = await runCheck({
        config,
        store,
        env: process.env,
        trigger: 'timer',
        dryRun: false,
        targetTypes,
        runId: context.invocationId,
        log: engineLog(context),
      });
      logRun(context, report);
    } catch (error) {
      // Another full check holds the lease. Its work may be of another kind, so this kind waits for its next
      // tick; the sample schedules are offset so the two timers do not start together.
      if ((error as { code?: string }).code === 'run-in-progress') {
        context.warn(`skipped: ${(error as Error).message}`);
        return;
      }
      throw error;
    }
  };
}

app.timer('outsystemsCheck', { schedule: '%OUTSYSTEMS_SCHEDULE%', runOnStartup: false, handler: scheduledCheck(['outsystems']) });
app.timer('casCheck', {
  schedule: '%CAS_SCHEDULE%',
  runOnStartup: false,
  handler: scheduledCheck(['cas-docs', 'odc', 'service-tags', 'static']),
});
