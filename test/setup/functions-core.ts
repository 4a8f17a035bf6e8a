import Module from 'node:module';

/**
 * Stands in for "@azure/functions-core", the module the Functions host's Node worker provides at run time.
 * "@azure/functions" loads it with its own require(), which neither a vitest alias nor vi.mock reaches,
 * so the load itself is intercepted. What the recorder keeps is exactly what the host would receive.
 */
export interface Registration {
  readonly metadata: {
    name: string;
    bindings: Record<string, { type: string; direction: string; [key: string]: unknown }>;
    [key: string]: unknown;
  };
  readonly handler: (...args: unknown[]) => unknown;
}

export const registrations: Registration[] = [];
export let programmingModel: { name: string; version: string } | undefined;

const recorder = {
  registerFunction(metadata: Registration['metadata'], handler: Registration['handler']) {
    registrations.push({ metadata, handler });
    return { dispose() {} };
  },
  setProgrammingModel(model: { name: string; version: string }) {
    programmingModel = model;
  },
  registerHook() {
    return { dispose() {} };
  },
  log() {},
};

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const moduleWithLoad = Module as unknown as { _load: Load };
const originalLoad = moduleWithLoad._load;
moduleWithLoad._load = function load(this: unknown, request: string, parent: unknown, isMain: boolean) {
  if (request === '@azure/functions-core') return recorder;
  return originalLoad.call(this, request, parent, isMain);
};
(globalThis as { __functionsCoreRecorder?: unknown }).__functionsCoreRecorder = {
  registrations,
  get programmingModel() {
    return programmingModel;
  },
};
