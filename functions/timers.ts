import { app, type InvocationContext, type Timer } from '@azure/functions';
import type { TargetType } from '../shared/config.js';
import type { ConfigSet } from '../shared/config-set.js';
import type { ScheduleSetting } from '../shared/sources/source.js';
import { RUN_QUEUE, runQueueOutput } from './lib/run-queue.js';

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
 * The app's one config, checked in this invocation as before sets existed; or, for a folder or container of configs,
 * one message per valid config on the run queue (functions/runs.ts checks each, scaled out by the host).
 */
function scheduledRun(schedule: ScheduleSetting | readonly TargetType[]) {
  return async (timer: Timer, context: InvocationContext): Promise<void> => {
    if (timer.isPastDue) context.warn(`${context.functionName} is running late (past due): a previous run or the host was delayed`);
    const [{ sharedRuntime }, { runCheck }, { configOf }, { configRunError }, { engineLog, logRun }, { typesOnSchedule }] =
      await Promise.all([
        import('./lib/runtime.js'),
        import('../shared/engine/check.js'),
        import('../shared/config-set.js'),
        import('../shared/engine/check-set.js'),
        import('./lib/run-log.js'),
        import('../shared/sources/registry.js'),
      ]);
    const runtime = await sharedRuntime();
    const set = await runtime.configSet();
    for (const warning of set.warnings) context.warn(warning);
    if (set.kind !== 'single') return fanOut({ set, schedule, context });
    // The registry is read here, not at import, so registering the timers loads no schema.
    const targetTypes = typeof schedule === 'string' ? typesOnSchedule(schedule) : schedule;
    const entry = set.entries[0]!;
    try {
      const report = await runCheck({
        config: configOf(entry),
        store: runtime.store,
        documents: runtime.documents,
        env: process.env,
        trigger: 'timer',
        dryRun: false,
        targetTypes,
        runId: context.invocationId,
        leaseTtlMs: runtime.leaseTtlMs,
        log: engineLog(context),
      });
      logRun(context, report);
    } catch (error) {
      const problem = configRunError(error);
      // Another full check holds the lease. Its work may be of another kind, so this kind waits for its next
      // tick; the sample schedules are offset so the two timers do not start together.
      if (problem.code === 'run-in-progress') return context.warn(`skipped: ${problem.message}`);
      context.error(`${entry.name}: ${problem.code}: ${problem.message}`);
      throw error;
    }
  };
}

/**
 * One message per valid config through the timer's queue output binding (the host enqueues them when the
 * invocation succeeds, so this never throws after choosing them). An invalid config gets an error line instead.
 */
async function fanOut(options: { set: ConfigSet; schedule: ScheduleSetting | readonly TargetType[]; context: InvocationContext }) {
  const { set, schedule, context } = options;
  // Only code passes target types (tests of a single config); a message names a schedule setting.
  if (typeof schedule !== 'string') throw new TypeError('a timer over a set of configs fans out by schedule setting, not by target types');
  const { fanOutMessages } = await import('../shared/queue/run-message.js');
  const messages = fanOutMessages({ set, kind: schedule, tick: new Date().toISOString() });
  for (const entry of set.entries) if (entry.error) context.error(`${entry.name}: ${entry.error.code}: ${entry.error.message}`);
  context.extraOutputs.set(runQueueOutput, messages);
  context.log(`fan-out: ${messages.length} of ${set.entries.length} configs queued on ${RUN_QUEUE} for ${schedule}`);
}

const timer = (schedule: ScheduleSetting) => ({
  schedule: `%${schedule}%`,
  runOnStartup: false,
  extraOutputs: [runQueueOutput],
  handler: scheduledCheck(schedule),
});
app.timer('outsystemsCheck', timer('OUTSYSTEMS_SCHEDULE'));
app.timer('casCheck', timer('CAS_SCHEDULE'));
