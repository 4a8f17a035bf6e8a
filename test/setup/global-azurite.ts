import type { TestProject } from 'vitest/node';
import { startEmbeddedAzurite } from '../../shared/state/embedded-azurite.js';

declare module 'vitest' {
  export interface ProvidedContext {
    azuriteConnectionString: string;
  }
}

/** One Azurite (table, blob and queue services) for the whole run; each test uses its own table or container name. */
export default async function setup(project: TestProject) {
  const azurite = await startEmbeddedAzurite();
  project.provide('azuriteConnectionString', azurite.connectionString);
  return async () => {
    await azurite.stop();
  };
}
