import { InvocationContext } from '@azure/functions';

/** One line a handler logged through its InvocationContext. */
export interface Logged {
  readonly level: string;
  readonly text: string;
}

/**
 * A real InvocationContext of `functionName` whose log lines are kept; a queue-triggered invocation also carries the
 * host's dequeue count in its trigger metadata.
 */
export function recordedInvocation(options: { readonly functionName: string; readonly dequeueCount?: number }): {
  context: InvocationContext;
  logs: Logged[];
} {
  const logs: Logged[] = [];
  const context = new InvocationContext({
    ...(options.dequeueCount === undefined ? {} : { triggerMetadata: { dequeueCount: options.dequeueCount } }),
    invocationId: `00000000-0000-4000-8000-${String(Math.floor(Math.random() * 1e12)).padStart(12, '0')}`,
    functionName: options.functionName,
    logHandler: (level, ...args) => logs.push({ level, text: args.map(String).join(' ') }),
  });
  return { context, logs };
}

/** A config of one static target written to its own plain file: what the set tests put in a folder. */
export function staticConfig(name: string, entries: string[]) {
  return {
    name,
    targets: [{ id: 'partners', type: 'static', entries }],
    files: [{ path: `edl/${name}.txt`, format: 'plain', targets: ['partners'] }],
  };
}
