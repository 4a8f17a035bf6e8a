import { app, type InvocationContext } from '@azure/functions';
import { poisonQueueOutput, RUN_QUEUE } from './lib/run-queue.js';
import { RUN_QUEUE_CONNECTION } from '../shared/queue/queue-name.js';

/**
 * One config's check of one schedule's targets, from the message a timer fanned out (shared/queue/worker.ts).
 * The host runs up to host.json's batchSize of these per instance and scales instances out on the queue's length.
 */
export async function runQueuedCheck(entry: unknown, context: InvocationContext): Promise<void> {
  const [{ sharedRuntime }, { runCheck }, { runQueuedMessage }, { openRequeue }, { logRun }, { typesOnSchedule }] = await Promise.all([
    import('./lib/runtime.js'),
    import('../shared/engine/check.js'),
    import('../shared/queue/worker.js'),
    import('../shared/queue/requeue.js'),
    import('./lib/run-log.js'),
    import('../shared/sources/registry.js'),
  ]);
  const runtime = await sharedRuntime();
  const result = await runQueuedMessage({
    entry,
    set: (message) => runtime.configSetSince(new Date(message.tick)),
    requeue: openRequeue({ env: process.env, queue: RUN_QUEUE }),
    dequeueCount: Number(context.triggerMetadata?.dequeueCount),
    queue: RUN_QUEUE,
    failed: (line) => context.error(line),
    failures: { store: runtime.store.queueFailures(), warn: (line) => context.warn(line), now: () => new Date() },
    run: (config, message) =>
      runCheck({
        config,
        store: runtime.store,
        documents: runtime.documents,
        env: process.env,
        trigger: 'timer',
        dryRun: false,
        targetTypes: typesOnSchedule(message.kind),
        runId: `${context.invocationId}:${config.name}`,
        leaseTtlMs: runtime.leaseTtlMs,
        log: (level, text) => context[level](`${config.name}: ${text}`),
      }),
  });
  switch (result.outcome) {
    case 'ran':
      logRun(context, result.report);
      return;
    case 'deferred':
      context.warn(
        `${result.message.config}: ${result.message.kind} deferred ${result.delaySeconds} s: another run (${result.holder}) holds its lease; a copy of the message was queued`,
      );
      return;
    case 'skipped':
      context.error(`${result.message.config}: ${result.message.kind} not run: ${result.problem.code}: ${result.problem.message}`);
      return;
    case 'rejected':
      context.error(`${result.problem.code}: ${result.problem.message}; moved to ${poisonQueueOutput.queueName} without retrying`);
      // As text, so that even a bare `null` or number is a message the binding can write.
      context.extraOutputs.set(poisonQueueOutput, typeof entry === 'string' ? entry : (JSON.stringify(entry) ?? String(entry)));
      return;
  }
}

app.storageQueue('runConfig', {
  queueName: RUN_QUEUE,
  connection: RUN_QUEUE_CONNECTION,
  extraOutputs: [poisonQueueOutput],
  handler: runQueuedCheck,
});
