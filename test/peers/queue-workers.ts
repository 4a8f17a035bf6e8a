// Worker processes of the run queue for the engine scenarios and the bench: each runs queue-worker.ts (the queue
// driver around functions/runs.ts) as its own Node process, so one can be killed mid-run like a lost instance.
// Test files are not compiled into dist/ and @azure/functions is CommonJS that Node's ESM loader cannot name exports
// of, so the entry is bundled by esbuild (with @azure/functions inside) into .queue-worker/ in the repository, where
// the other packages resolve from node_modules. The bench's compiled copy of this module bundles the same source.
import { spawn } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ScheduleSetting } from '../../shared/sources/source.js';
import { repositoryRoot, type QueueSettings } from './queue-host.js';

/** How the worker's driver runs (host.json's values unless overridden); passed to the process as its argument. */
export interface QueueWorkerOptions {
  readonly settings?: Partial<QueueSettings>;
  readonly holdSeconds?: number;
  readonly pollMs?: number;
}

/** The schedule setting a timer occurrence fans out for (a run message's kind). */
export type TimerKind = ScheduleSetting;

/** One line a worker prints on stdout. */
export interface QueueWorkerEvent {
  /**
   * ready: it listens on `queue`; start/done/failed: one invocation (failed says whether the message went to the poison
   * queue); poisoned: a message moved there without running; error: a message it could not complete; log: a line
   * the handler logged; stopped: SIGTERM was handled and nothing is in flight; fanout: a timer process (runTimerProcess)
   * wrote `written` run messages on `queue` (failed, with `error`, when its handler threw).
   */
  readonly event: 'ready' | 'start' | 'done' | 'failed' | 'poisoned' | 'error' | 'log' | 'stopped' | 'fanout';
  readonly pid: number;
  readonly queue?: string;
  readonly config?: string;
  readonly kind?: string;
  readonly dequeueCount?: number;
  readonly invocationId?: string;
  readonly messageId?: string;
  readonly ms?: number;
  readonly error?: string;
  readonly poisoned?: boolean;
  readonly reason?: string;
  readonly level?: string;
  readonly text?: string;
  readonly written?: number;
}

export interface QueueWorker {
  readonly pid: number;
  /** Every event printed so far, in order. */
  readonly lines: QueueWorkerEvent[];
  /** What the process wrote on stderr so far. */
  stderr(): string;
  /** Resolves with the first event (already printed or still to come) matching; rejects if the process exits first. */
  waitFor(match: (event: QueueWorkerEvent) => boolean): Promise<QueueWorkerEvent>;
  /** SIGTERM (the default) lets the invocations in flight finish; SIGKILL is a lost instance. */
  kill(signal?: NodeJS.Signals): void;
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>;
}

let bundled: Promise<string> | undefined;

/** Bundles test/peers/queue-worker.ts into .queue-worker/ once per process; resolves with the bundle's path. */
export function bundleQueueWorker(): Promise<string> {
  bundled ??= (async () => {
    const { build } = await import('esbuild');
    const root = repositoryRoot();
    const out = join(root, '.queue-worker');
    const result = await build({
      entryPoints: [join(root, 'test', 'peers', 'queue-worker.ts')],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: 'node22',
      logLevel: 'silent',
      plugins: [
        {
          name: 'packages-external-but-functions',
          setup(build) {
            // Packages load from node_modules, except @azure/functions: its CommonJS exports have no names for ESM.
            build.onResolve({ filter: /^[^./]/ }, (args) =>
              args.path === '@azure/functions' ? undefined : { path: args.path, external: true },
            );
          },
        },
      ],
      // The bundled @azure/functions calls require() (for the host's @azure/functions-core among others).
      banner: { js: "import { createRequire as __workerRequire } from 'node:module'; const require = __workerRequire(import.meta.url);" },
    });
    mkdirSync(out, { recursive: true });
    const file = join(out, 'queue-worker.mjs');
    // Written beside and renamed, so a worker of another test file never starts from a half-written bundle.
    const partial = `${file}.${process.pid}`;
    writeFileSync(partial, result.outputFiles[0]!.contents);
    renameSync(partial, file);
    return file;
  })();
  bundled.catch(() => (bundled = undefined));
  return bundled;
}

/**
 * Starts `count` worker processes on the run queue and resolves once each printed `ready`. The environment is this
 * process's with `env` over it: AzureWebJobsStorage (the queue), ALLOWLIST_* (configs, table, queue), GitHub, DNS.
 */
export async function spawnQueueWorkers(options: {
  readonly count: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly host?: QueueWorkerOptions;
  /** The script to run instead of the bundle of queue-worker.ts. */
  readonly entry?: string;
}): Promise<QueueWorker[]> {
  const entry = options.entry ?? (await bundleQueueWorker());
  const workers = Array.from({ length: options.count }, () =>
    startWorker({ entry, env: { ...process.env, ...options.env }, host: options.host ?? {} }),
  );
  try {
    await Promise.all(workers.map((worker) => worker.waitFor((event) => event.event === 'ready')));
  } catch (error) {
    for (const worker of workers) worker.kill('SIGKILL');
    throw error;
  }
  return workers;
}

/**
 * One timer occurrence in its own process: functions/timers.ts's handler for `kind` (a fan-out when the environment
 * names a folder or container of configs), with its queue output written as the host does. Resolves when it exited,
 * with the messages it wrote (0 when it failed: then `failed` holds the error) and everything it printed.
 */
export async function runTimerProcess(options: {
  readonly kind: TimerKind;
  readonly env?: NodeJS.ProcessEnv;
  readonly entry?: string;
}): Promise<{ readonly written: number; readonly failed?: string; readonly lines: readonly QueueWorkerEvent[]; readonly stderr: string }> {
  const entry = options.entry ?? (await bundleQueueWorker());
  const timer = startWorker({ entry, env: { ...process.env, ...options.env }, host: { timer: options.kind } });
  const { code, signal } = await timer.exited;
  const fanout = timer.lines.find((event) => event.event === 'fanout');
  const failed = fanout
    ? undefined
    : (timer.lines.find((event) => event.event === 'failed')?.error ?? `the timer process exited (${signal ?? code}): ${timer.stderr()}`);
  return { written: fanout?.written ?? 0, ...(failed !== undefined && { failed }), lines: timer.lines, stderr: timer.stderr() };
}

/** SIGTERM to each worker; resolves when all exited. */
export async function stopQueueWorkers(workers: readonly QueueWorker[]): Promise<void> {
  for (const worker of workers) worker.kill('SIGTERM');
  await Promise.all(workers.map((worker) => worker.exited));
}

function startWorker(options: { entry: string; env: NodeJS.ProcessEnv; host: QueueWorkerOptions & { timer?: TimerKind } }): QueueWorker {
  const child = spawn(process.execPath, [options.entry, JSON.stringify(options.host)], {
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: QueueWorkerEvent[] = [];
  const waiters = new Set<{ match: (event: QueueWorkerEvent) => boolean; resolve: (event: QueueWorkerEvent) => void }>();
  let stderr = '';
  let rest = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    for (const part of parts) {
      if (!part.trim()) continue;
      let event: QueueWorkerEvent;
      try {
        event = JSON.parse(part) as QueueWorkerEvent;
      } catch {
        stderr += `(stdout) ${part}\n`;
        continue;
      }
      lines.push(event);
      for (const waiter of [...waiters]) {
        if (waiter.match(event)) {
          waiters.delete(waiter);
          waiter.resolve(event);
        }
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const pid = child.pid!;
  return {
    pid,
    lines,
    stderr: () => stderr,
    kill: (signal = 'SIGTERM') => void child.kill(signal),
    exited,
    waitFor(match) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.add({ match, resolve });
        void exited.then(({ code, signal }) =>
          reject(
            new Error(
              `queue worker ${pid} exited (${signal ?? code}) before the event awaited:\n${stderr}\n${lines.map((l) => JSON.stringify(l)).join('\n')}`,
            ),
          ),
        );
      });
    },
  };
}
