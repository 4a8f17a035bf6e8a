import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import type { ConfigSet } from '../shared/config-set.js';
import { httpHandler, type HttpApi } from './lib/http-handler.js';
import { RUN_QUEUE, runQueueOutput } from './lib/run-queue.js';

const CHECK_METHODS = ['GET', 'POST'] as const;

/**
 * GET runs a dry check (nothing stored, no PR); POST runs a full check. Only configured targets can be named. An app
 * with a folder or container of configs takes config=<name> for one config; a POST without it queues a full check of
 * every config and answers 202 (a whole set may take longer than the 230 s Azure lets an HTTP request run).
 */
export const checkHandler = httpHandler('check', CHECK_METHODS, async (request, context, api) => {
  const query = api.parseCheckQuery(request.url);
  const body = request.method === 'POST' ? api.parseCheckBody(await api.readBody(request)) : { targetIds: [] };
  const targetIds = [...new Set([...query.targetIds, ...body.targetIds])];
  const [{ sharedRuntime }, { runCheck }, { configOf, namesOf, selectConfig }, { engineLog, logRun }, { AllowlistError }] =
    await Promise.all([
      import('./lib/runtime.js'),
      import('../shared/engine/check.js'),
      import('../shared/config-set.js'),
      import('./lib/run-log.js'),
      import('../shared/problem.js'),
    ]);
  const runtime = await sharedRuntime();
  const set = await runtime.configSet();
  if (query.config === undefined && set.kind !== 'single') {
    if (request.method === 'POST') return queueWholeSet({ request, context, api, set, targetIds });
    // A dry run answers with its report, and a set's reports would not fit one request.
    if (set.entries.length > 1)
      throw new AllowlistError(
        'config-required',
        `This app has ${set.entries.length} configs: a dry run (GET) answers with one config's report, so name one with config=<name> (${namesOf(set)}); POST without config= queues a full check of every config`,
      );
  }
  const config = configOf(selectConfig(set, query.config));
  const report = await runCheck({
    config,
    store: runtime.store,
    documents: runtime.documents,
    env: process.env,
    trigger: 'http',
    dryRun: request.method !== 'POST',
    targetIds,
    runId: context.invocationId,
    leaseTtlMs: runtime.leaseTtlMs,
    log: engineLog(context),
  });
  logRun(context, report);
  return api.jsonResponse(200, report);
});

/**
 * POST without config= to an app with a folder or container of configs: a full check of every config, queued through
 * the timers' queue output binding (the host writes the messages when this answers), and where the results show.
 * Target ids belong to one config, so naming any is a 400.
 */
async function queueWholeSet(options: {
  request: HttpRequest;
  context: InvocationContext;
  api: HttpApi;
  set: ConfigSet;
  targetIds: readonly string[];
}): Promise<HttpResponseInit> {
  const { request, context, api, set, targetIds } = options;
  if (targetIds.length > 0)
    throw new api.BadRequestError(
      'target ids belong to one config: name it with config=<name>, or POST without targets to queue a full check of every config',
    );
  const { queueEveryConfig } = await import('../shared/queue/queue-all.js');
  const statusUrl = new URL(request.url);
  statusUrl.pathname = statusUrl.pathname.replace(/check\/?$/, 'status');
  const { messages, answer } = queueEveryConfig({ set, tick: new Date().toISOString(), queue: RUN_QUEUE, statusUrl });
  for (const entry of answer.notQueued) context.error(`${entry.config}: not queued: ${entry.error.code}: ${entry.error.message}`);
  context.extraOutputs.set(runQueueOutput, messages);
  context.log(`check: ${messages.length} run messages for ${answer.queued.length} of ${set.entries.length} configs queued on ${RUN_QUEUE}`);
  return api.jsonResponse(202, answer, { location: answer.status });
}

app.http('check', {
  methods: [...CHECK_METHODS],
  authLevel: 'function',
  route: 'check',
  extraOutputs: [runQueueOutput],
  handler: checkHandler,
});
