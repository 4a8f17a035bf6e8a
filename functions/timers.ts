import { app, type InvocationContext, type Timer } from '@azure/functions';
import type { TargetType } from '../shared/config.js';
import type { ScheduleSetting } from '../shared/sources/source.js';

/**
 * A scheduled full check of the target types whose sources name this schedule setting (or of the types listed).
 * Both timers reconcile the same single PR: observations are stored per target and publishing always covers the whole config.
 */
export function scheduledCheck(schedule: ScheduleSetting | readonly TargetType[]) {
  const run = scheduledRun(schedule);
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
      import('../shared/doctor/probes.js'),
      import('../shared/doctor/format.js'),
    ]);
    const report = await runDoctorFromEnv(process.env);
    for (const line of doctorFailures(report)) context.warn(line);
    context.log(`${doctorSummary(report)} (start-up check of this worker; GET /api/doctor runs it again)`);
  } catch (error) {
    context.warn(`doctor: the start-up check could not run: ${(error as Error).message}`);
  }
}

function scheduledRun(schedule: ScheduleSetting | readonly TargetType[]) {
  return async (timer: Timer, context: InvocationContext): Promise<void> => {
    if (timer.isPastDue) context.warn(`${context.functionName} is running late (past due): a previous run or the host was delayed`);
    const [{ sharedRuntime }, { runCheck }, { engineLog, logRun }, { typesOnSchedule }] = await Promise.all([
      import('./lib/runtime.js'),
      import('../shared/engine/check.js'),
      import('./lib/run-log.js'),
      import('../shared/sources/registry.js'),
    ]);
    // The registry is read here, not at import, so registering the timers loads no schema.
    const targetTypes = typeof schedule === 'string' ? typesOnSchedule(schedule) : schedule;
    const { config, store, documents } = await sharedRuntime();
    try {
      const report = await runCheck({
        config,
        store,
        documents,
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

app.timer('outsystemsCheck', { schedule: '%OUTSYSTEMS_SCHEDULE%', runOnStartup: false, handler: scheduledCheck('OUTSYSTEMS_SCHEDULE') });
app.timer('casCheck', { schedule: '%CAS_SCHEDULE%', runOnStartup: false, handler: scheduledCheck('CAS_SCHEDULE') });
