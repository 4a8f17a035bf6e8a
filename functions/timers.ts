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

/**
 * One line per failed check and a summary; never throws, so it cannot fail the run it accompanies. An app with several
 * configs checks the first valid one (the storage, credentials and resolvers they share); the others are checked with
 * GET /api/doctor?config=<name>.
 */
async function logStartupChecks(context: InvocationContext): Promise<void> {
  try {
    const [{ runDoctorFromEnv }, { doctorFailures, doctorSummary }, { sharedRuntime }] = await Promise.all([
      import('../shared/doctor/probes.js'),
      import('../shared/doctor/format.js'),
      import('./lib/runtime.js'),
    ]);
    const set = await sharedRuntime()
      .then((runtime) => runtime.configSet())
      .catch(() => undefined);
    const first = set && set.kind !== 'single' ? set.entries.find((entry) => entry.config) : undefined;
    const report = await runDoctorFromEnv(process.env, first ? { configName: first.name } : {});
    for (const line of doctorFailures(report)) context.warn(line);
    const which = first ? `, config ${first.name} of ${set!.entries.length}` : '';
    context.log(`${doctorSummary(report)} (start-up check of this worker${which}; GET /api/doctor runs it again)`);
  } catch (error) {
    context.warn(`doctor: the start-up check could not run: ${(error as Error).message}`);
  }
}

/**
 * Every config of the app, a few at once (shared/engine/check-set.ts), each under its own lease. A config that is
 * invalid or fails is logged under its name and the others still run; the invocation then fails, naming them.
 */
function scheduledRun(schedule: ScheduleSetting | readonly TargetType[]) {
  return async (timer: Timer, context: InvocationContext): Promise<void> => {
    if (timer.isPastDue) context.warn(`${context.functionName} is running late (past due): a previous run or the host was delayed`);
    const [{ sharedRuntime }, { runCheck }, { runConfigSet }, { engineLog, logRun }, { typesOnSchedule }] = await Promise.all([
      import('./lib/runtime.js'),
      import('../shared/engine/check.js'),
      import('../shared/engine/check-set.js'),
      import('./lib/run-log.js'),
      import('../shared/sources/registry.js'),
    ]);
    // The registry is read here, not at import, so registering the timers loads no schema.
    const targetTypes = typeof schedule === 'string' ? typesOnSchedule(schedule) : schedule;
    const runtime = await sharedRuntime();
    const set = await runtime.configSet();
    for (const warning of set.warnings) context.warn(warning);
    const several = set.kind !== 'single';
    // A single config's failure is rethrown as it was thrown, code and all, as before sets existed.
    const thrown = new Map<string, unknown>();
    const runs = await runConfigSet({
      set,
      run: (config) =>
        runCheck({
          config,
          store: runtime.store,
          documents: runtime.documents,
          env: process.env,
          trigger: 'timer',
          dryRun: false,
          targetTypes,
          // One invocation runs every config: each run's id names its config, so log lines and PR bodies tell them apart.
          runId: several ? `${context.invocationId}:${config.name}` : context.invocationId,
          log: several ? (level, message) => context[level](`${config.name}: ${message}`) : engineLog(context),
        }).catch((error: unknown) => {
          thrown.set(config.name, error);
          throw error;
        }),
    });
    const failed: string[] = [];
    for (const run of runs) {
      if (run.report) {
        logRun(context, run.report);
        continue;
      }
      // Another full check holds the lease. Its work may be of another kind, so this kind waits for its next
      // tick; the sample schedules are offset so the two timers do not start together.
      if (run.error.code === 'run-in-progress') {
        context.warn(`${several ? `${run.name}: ` : ''}skipped: ${run.error.message}`);
        continue;
      }
      context.error(`${run.name}: ${run.error.code}: ${run.error.message}`);
      failed.push(run.name);
    }
    if (failed.length > 0) {
      if (!several) throw thrown.get(failed[0]!) ?? new Error(runs[0]!.error!.message);
      throw new Error(`${failed.length} of ${runs.length} configs failed: ${failed.join(', ')}`);
    }
  };
}

app.timer('outsystemsCheck', { schedule: '%OUTSYSTEMS_SCHEDULE%', runOnStartup: false, handler: scheduledCheck('OUTSYSTEMS_SCHEDULE') });
app.timer('casCheck', { schedule: '%CAS_SCHEDULE%', runOnStartup: false, handler: scheduledCheck('CAS_SCHEDULE') });
