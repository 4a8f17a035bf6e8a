// One worker process of the run queue: the queue driver (queue-host.ts) around functions/runs.ts's runQueuedCheck,
// as one Functions instance would run the registered `runConfig`, until SIGTERM. It prints one JSON line per event
// on stdout (QueueWorkerEvent) so that a parent sees which process runs which config, and can kill it mid-run.
// With {"timer": KIND} it runs one timer occurrence instead (functions/timers.ts's fan-out) and exits.
// Spawned by queue-workers.ts from an esbuild bundle; the settings come from the environment, as the host's would.
//
//   node .queue-worker/queue-worker.mjs '{"holdSeconds":2,"settings":{"visibilityTimeout":1}}'
//   node .queue-worker/queue-worker.mjs '{"timer":"CAS_SCHEDULE"}'
import '../setup/functions-core.js';
import type { LogLevel } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { runTimerFunction, startQueueHost, type QueueHostEvent } from './queue-host.js';
import type { QueueWorkerEvent, QueueWorkerOptions, TimerKind } from './queue-workers.js';

const print = (event: Omit<QueueWorkerEvent, 'pid'>): void => {
  process.stdout.write(`${JSON.stringify({ ...event, pid: process.pid })}\n`);
};

/** The config and kind a run message names, when it names them (garbage names nothing). */
function named(entry: unknown): { config?: string; kind?: string } {
  if (typeof entry !== 'object' || entry === null) return {};
  const { config, kind } = entry as Record<string, unknown>;
  return { ...(typeof config === 'string' && { config }), ...(typeof kind === 'string' && { kind }) };
}

function toLine(event: QueueHostEvent): Omit<QueueWorkerEvent, 'pid'> {
  if (event.event === 'poisoned' || event.event === 'error') return event;
  const { invocation } = event;
  const common = {
    ...named(invocation.entry),
    dequeueCount: invocation.dequeueCount,
    invocationId: invocation.invocationId,
    messageId: invocation.messageId,
  };
  if (event.event === 'start') return { event: 'start', ...common };
  if (event.event === 'done') return { event: 'done', ...common, ms: event.ms };
  return { event: 'failed', ...common, ms: event.ms, error: event.error, poisoned: event.poisoned };
}

const options = JSON.parse(process.argv[2] ?? '{}') as QueueWorkerOptions & { readonly timer?: TimerKind };
const connectionString = process.env.AzureWebJobsStorage;
if (!connectionString) throw new Error('queue-worker: AzureWebJobsStorage (the run queue connection string) is not set');
const logTo =
  (invocationId: string) =>
  (level: LogLevel, ...args: unknown[]) =>
    print({ event: 'log', invocationId, level, text: args.map(String).join(' ') });

if (options.timer) await fanOut(options.timer);
else await serve();

/** One timer occurrence: functions/timers.ts's handler, and its queue output written as the host would; then exits. */
async function fanOut(kind: TimerKind): Promise<void> {
  const [{ scheduledCheck }, { runQueueOutput, RUN_QUEUE }] = await Promise.all([
    import('../../functions/timers.js'),
    import('../../functions/lib/run-queue.js'),
  ]);
  const invocationId = randomUUID();
  try {
    const { written } = await runTimerFunction({
      connectionString: connectionString!,
      handler: scheduledCheck(kind),
      outputs: [runQueueOutput],
      functionName: kind === 'CAS_SCHEDULE' ? 'casCheck' : 'outsystemsCheck',
      invocationId,
      logHandler: logTo(invocationId),
    });
    print({ event: 'fanout', kind, queue: RUN_QUEUE, written, invocationId });
    process.exit(0);
  } catch (error) {
    print({ event: 'failed', kind, invocationId, error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
}

/** The queue-triggered runConfig under the driver until SIGTERM, which lets the invocations in flight finish. */
async function serve(): Promise<void> {
  // After the recorder above: registering the functions records them instead of switching @azure/functions to test mode.
  const [{ runQueuedCheck }, { poisonQueueOutput, RUN_QUEUE }] = await Promise.all([
    import('../../functions/runs.js'),
    import('../../functions/lib/run-queue.js'),
  ]);
  const host = startQueueHost({
    connectionString: connectionString!,
    queue: RUN_QUEUE,
    handler: runQueuedCheck,
    functionName: 'runConfig',
    outputs: [poisonQueueOutput],
    ...(options.settings && { settings: options.settings }),
    ...(options.holdSeconds !== undefined && { holdSeconds: options.holdSeconds }),
    ...(options.pollMs !== undefined && { pollMs: options.pollMs }),
    logHandler: ({ invocationId }) => logTo(invocationId),
    onEvent: (event) => print(toLine(event)),
  });
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    void host.stop().then(() => {
      print({ event: 'stopped' });
      process.exit(0);
    });
  });
  print({ event: 'ready', queue: RUN_QUEUE });
}
