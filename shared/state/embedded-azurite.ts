import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { mkdirSync } from 'node:fs';

/** Azurite's well-known development account: public by design, never a secret. */
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface EmbeddedAzurite {
  /** Names the table, blob and queue endpoints. */
  readonly connectionString: string;
  /** The Table service's port. */
  readonly port: number;
  readonly blobPort: number;
  readonly queuePort: number;
  stop(): Promise<void>;
}

export interface EmbeddedAzuriteOptions {
  /** Folder for the LokiJS database; omitted means in-memory persistence. */
  readonly location?: string;
  /** A fixed Table port (used to restart on the same endpoint); default: a free loopback port. Blob and queue take free ones. */
  readonly port?: number;
  readonly startTimeoutMs?: number;
}

export function azuriteConnectionString(port: number, others: { readonly blobPort?: number; readonly queuePort?: number } = {}): string {
  const endpoint = (service: string, at: number | undefined) =>
    at === undefined ? '' : `${service}Endpoint=http://127.0.0.1:${at}/${DEV_ACCOUNT};`;
  return (
    `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};TableEndpoint=http://127.0.0.1:${port}/${DEV_ACCOUNT};` +
    `${endpoint('Blob', others.blobPort)}${endpoint('Queue', others.queuePort)}`
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts Azurite (Table for the state, Blob for the document cache, Queue beside them) as a child process that
 * this process owns.
 * A child (rather than in-process) keeps Azurite's many dependencies out of our heap
 * and lets fault tests kill it mid-run.
 */
export async function startEmbeddedAzurite(options: EmbeddedAzuriteOptions = {}): Promise<EmbeddedAzurite> {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve('azurite/dist/src/azurite.js');
  } catch {
    throw new Error('The embedded store needs the "azurite" package (a dev dependency): run "npm ci", or set ALLOWLIST_STORAGE.');
  }
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const [blobPort, queuePort] = [await freePort(), await freePort()];
    const args = [
      entry,
      '--tableHost',
      '127.0.0.1',
      '--tablePort',
      String(port),
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(blobPort),
      '--queueHost',
      '127.0.0.1',
      '--queuePort',
      String(queuePort),
      '--silent',
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--loose',
    ];
    if (options.location) {
      mkdirSync(options.location, { recursive: true });
      args.push('--location', options.location);
    } else {
      args.push('--inMemoryPersistence');
    }
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await waitForStart(child, timeoutMs);
      return {
        connectionString: azuriteConnectionString(port, { blobPort, queuePort }),
        port,
        blobPort,
        queuePort,
        stop: () => stopChild(child),
      };
    } catch (error) {
      await stopChild(child);
      // Another process may have taken the probed port between probe and bind; a fresh port fixes that.
      if (options.port !== undefined || attempt >= 3) throw error;
    }
  }
}

function waitForStart(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(new Error(`Azurite did not start within ${timeoutMs} ms: ${output.trim()}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // The Table service starts last.
      if (output.includes('Table service is successfully listening')) done();
    };
    const onExit = (code: number | null) => fail(new Error(`Azurite exited with code ${code}: ${output.trim()}`));
    function cleanup() {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    }
    function done() {
      cleanup();
      child.stdout?.resume();
      child.stderr?.resume();
      resolve();
    }
    function fail(error: Error) {
      cleanup();
      reject(error);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * Azurite saves its LokiJS database on a clean shutdown (and only every few seconds otherwise), so it is asked
 * to stop with SIGINT first; SIGKILL is the fallback for one that hangs.
 */
function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGINT');
  });
}
