import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_DEQUEUE_COUNT } from '../../shared/queue/worker.js';
import { programmingModel, registrations, type Registration } from '../setup/functions-core.js';

const root = resolve(import.meta.dirname, '../..');

/** The files the host loads: package.json "main" (a glob over the compiled function entry files). */
function entryFiles(): string[] {
  const main = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).main as string;
  expect(main).toBe('dist/functions/*.js');
  const folder = join(root, dirname(main));
  return readdirSync(folder)
    .filter((f) => f.endsWith('.js'))
    .map((f) => join(folder, f));
}

function registered(name: string): Registration['metadata'] {
  const found = registrations.find((r) => r.metadata.name === name);
  expect(found, `function "${name}" registered`).toBeDefined();
  return found!.metadata;
}

function triggerOf(name: string) {
  const bindings = Object.values(registered(name).bindings);
  const triggers = bindings.filter((b) => b.direction === 'in' && b.type.endsWith('Trigger'));
  expect(triggers).toHaveLength(1);
  return triggers[0]!;
}

describe('what the Functions host sees', () => {
  beforeAll(async () => {
    for (const file of entryFiles()) await import(pathToFileURL(file).href);
  });

  it('registers exactly the seven functions through the v4 programming model', () => {
    expect(programmingModel?.name).toBe('@azure/functions');
    expect(programmingModel?.version).toMatch(/^4\./);
    expect(registrations.map((r) => r.metadata.name).sort()).toEqual([
      'approve',
      'casCheck',
      'check',
      'doctor',
      'outsystemsCheck',
      'runConfig',
      'status',
    ]);
    for (const r of registrations) expect(typeof r.handler).toBe('function');
  });

  it('registers nothing from the helpers under functions/lib, which the "main" glob does not reach', async () => {
    const lib = join(root, dirname(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).main as string), 'lib');
    const helpers = readdirSync(lib).filter((f) => f.endsWith('.js'));
    expect(helpers.length).toBeGreaterThan(0);
    expect(entryFiles().some((file) => file.startsWith(`${lib}/`))).toBe(false);
    const before = registrations.map((r) => r.metadata.name);
    for (const file of helpers) await import(pathToFileURL(join(lib, file)).href);
    expect(registrations.map((r) => r.metadata.name)).toEqual(before);
  });

  it('runs the OutSystems and CAS checks on schedules taken from app settings, never on startup', () => {
    expect(triggerOf('outsystemsCheck')).toMatchObject({ type: 'timerTrigger', schedule: '%OUTSYSTEMS_SCHEDULE%', runOnStartup: false });
    expect(triggerOf('casCheck')).toMatchObject({ type: 'timerTrigger', schedule: '%CAS_SCHEDULE%', runOnStartup: false });
  });

  it('fans a config set out on the run queue: both timers and the check endpoint write to it, runConfig is triggered by it on the host storage', () => {
    const queue = { queueName: 'allowlist-drift-runs', connection: 'AzureWebJobsStorage' };
    // POST /api/check without config= queues every config through the same binding (functions/check.ts).
    for (const name of ['outsystemsCheck', 'casCheck', 'check']) {
      const outputs = Object.values(registered(name).bindings).filter((b) => b.direction === 'out' && b.type !== 'http');
      expect(outputs, name).toEqual([expect.objectContaining({ type: 'queue', ...queue })]);
    }
    expect(triggerOf('runConfig')).toMatchObject({ type: 'queueTrigger', ...queue });
    // A message that is not a run message goes straight to the poison queue the host uses for failed ones.
    const outputs = Object.values(registered('runConfig').bindings).filter((b) => b.direction === 'out');
    expect(outputs).toEqual([
      expect.objectContaining({ type: 'queue', queueName: 'allowlist-drift-runs-poison', connection: 'AzureWebJobsStorage' }),
    ]);
  });

  it('sets the queue extension: at most four runs per instance, five attempts, a pause before a retry', () => {
    const host = JSON.parse(readFileSync(join(root, 'host.json'), 'utf8'));
    // The worker's "last attempt" line counts with the same number (shared/queue/worker.ts).
    expect(host.extensions.queues.maxDequeueCount).toBe(MAX_DEQUEUE_COUNT);
    expect(host.extensions.queues).toEqual({ batchSize: 2, newBatchThreshold: 2, maxDequeueCount: 5, visibilityTimeout: '00:01:00' });
  });

  it('exposes /api/check for GET and POST, /api/status and /api/doctor for GET, /api/approve for POST, all behind a function key', () => {
    expect(triggerOf('check')).toMatchObject({ type: 'httpTrigger', route: 'check', authLevel: 'function' });
    expect((triggerOf('check').methods as string[]).slice().sort()).toEqual(['GET', 'POST']);
    expect(triggerOf('status')).toMatchObject({ type: 'httpTrigger', route: 'status', authLevel: 'function', methods: ['GET'] });
    expect(triggerOf('doctor')).toMatchObject({ type: 'httpTrigger', route: 'doctor', authLevel: 'function', methods: ['GET'] });
    expect(triggerOf('approve')).toMatchObject({ type: 'httpTrigger', route: 'approve', authLevel: 'function', methods: ['POST'] });
    for (const name of ['status', 'doctor', 'approve']) {
      const outputs = Object.values(registered(name).bindings).filter((b) => b.direction === 'out');
      expect(outputs).toEqual([expect.objectContaining({ type: 'http' })]);
    }
    const checkOutputs = Object.values(registered('check').bindings).filter((b) => b.direction === 'out');
    expect(checkOutputs.map((b) => b.type).sort()).toEqual(['http', 'queue']);
  });

  it('declares the v2 host with the v4 extension bundle', () => {
    const host = JSON.parse(readFileSync(join(root, 'host.json'), 'utf8'));
    expect(host.version).toBe('2.0');
    expect(host.extensionBundle).toEqual({ id: 'Microsoft.Azure.Functions.ExtensionBundle', version: '[4.*, 5.0.0)' });
  });

  it('records every invocation, successful ones too, so the Monitor tab and the requests table show each run', () => {
    const host = JSON.parse(readFileSync(join(root, 'host.json'), 'utf8'));
    // Host.Results writes the request telemetry of each invocation; "Error" would keep only the failed ones.
    expect(host.logging.logLevel['Host.Results']).toBe('Information');
    expect(host.logging.logLevel.Function).toBe('Information');
    // The per-target warning and error lines are traces: adaptive sampling must never drop one of them.
    expect(host.logging.applicationInsights.samplingSettings.excludedTypes.split(';')).toContain('Trace');
  });

  it('documents every app setting the code reads in local.settings.sample.json', () => {
    const sample = JSON.parse(readFileSync(join(root, 'local.settings.sample.json'), 'utf8')).Values as Record<string, string>;
    const sources = ['functions', 'shared', 'bin'].flatMap((dir) => listTs(join(root, dir)));
    const read = new Set<string>();
    for (const file of sources) {
      for (const match of readFileSync(file, 'utf8').matchAll(/env\.([A-Za-z_][A-Za-z0-9_]*)|%([A-Z_]+)%/g))
        read.add((match[1] ?? match[2])!);
    }
    // npm_command and npm_lifecycle_event are npm's own environment (bin/invocation.ts), not settings anyone sets.
    for (const name of [...read].filter((name) => !name.startsWith('npm_')))
      expect(Object.keys(sample), `${name} documented`).toContain(name);
  });
});

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listTs(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}
