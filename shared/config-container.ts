import type { ContainerClient } from '@azure/storage-blob';
import type { ConfigDocument } from './config-set.js';
import { AllowlistError } from './problem.js';
import { lazyDefaultAzureCredential, parseConnectionString } from './state/table-endpoint.js';

/** A config is a few kilobytes; a blob far larger is not one, and is not downloaded. */
export const MAX_CONFIG_BLOB_BYTES = 1024 * 1024;

const CONTAINER_NAME = /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/;

/**
 * The `*.json` blobs at the top of the container ALLOWLIST_CONFIG_CONTAINER names: either a container URL
 * (https://<account>.blob.core.windows.net/<container>, read with the app's identity) or a container name in the
 * account of the storage setting (its connection string, or the account of its table endpoint with the identity).
 */
export async function readContainer(
  container: string,
  options: { readonly storage: string | undefined; readonly env: NodeJS.ProcessEnv },
): Promise<ConfigDocument[]> {
  const client = await containerClient(container, options.storage);
  const documents: ConfigDocument[] = [];
  try {
    for await (const blob of client.listBlobsFlat()) {
      // Only the top of the container, like a folder without its sub-folders.
      if (blob.name.includes('/') || !blob.name.toLowerCase().endsWith('.json')) continue;
      const origin = `${client.containerName}/${blob.name}`;
      const size = blob.properties.contentLength ?? 0;
      if (size > MAX_CONFIG_BLOB_BYTES) {
        documents.push({
          fileName: blob.name,
          origin,
          text: '',
          unreadable: `${size} bytes is more than a config can be (${MAX_CONFIG_BLOB_BYTES})`,
        });
        continue;
      }
      const text = (await client.getBlobClient(blob.name).downloadToBuffer()).toString('utf8');
      documents.push({ fileName: blob.name, origin, text });
    }
  } catch (error) {
    throw unreadable(container, error);
  }
  return documents.sort((a, b) => a.fileName.localeCompare(b.fileName));
}

async function containerClient(container: string, storage: string | undefined): Promise<ContainerClient> {
  const { BlobServiceClient, ContainerClient } = await import('@azure/storage-blob');
  if (/^https?:\/\//i.test(container)) {
    const url = parseUrl(container);
    if (url.protocol !== 'https:' && !/^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(url.hostname))
      throw settingProblem(
        `the container URL must use https (plain http only for Azurite on this machine), not ${url.protocol}//${url.host}`,
      );
    // A URL with a SAS carries its own authorization; without one, the app's identity reads it.
    return url.searchParams.has('sig') ? new ContainerClient(container) : new ContainerClient(container, lazyDefaultAzureCredential());
  }
  if (!CONTAINER_NAME.test(container))
    throw settingProblem(
      `"${container.slice(0, 70)}" is neither a container name (3-63 lowercase letters, digits and dashes) nor a container URL`,
    );
  if (!storage)
    throw settingProblem(
      `the container "${container}" is looked up in the account of ALLOWLIST_STORAGE (or AzureWebJobsStorage), and neither is set; or give a container URL`,
    );
  if (/^https?:\/\//i.test(storage)) {
    const table = parseUrl(storage);
    const blob = /^([a-z0-9]+)\.table\.(.+)$/i.exec(table.hostname);
    if (!blob || table.protocol !== 'https:')
      throw settingProblem(
        `the blob endpoint of ${table.host} is not known from its table endpoint: give a container URL, https://<account>.blob.core.windows.net/${container}`,
      );
    return new ContainerClient(`https://${blob[1]}.blob.${blob[2]}/${container}`, lazyDefaultAzureCredential());
  }
  const parts = parseConnectionString(storage);
  if (!parts.has('blobendpoint') && !parts.has('accountname') && parts.get('usedevelopmentstorage') !== 'true')
    throw settingProblem('the storage connection string names no blob endpoint (BlobEndpoint or AccountName)');
  try {
    return BlobServiceClient.fromConnectionString(storage).getContainerClient(container);
  } catch {
    throw settingProblem('the storage connection string is not valid for Blob Storage (expected AccountName/AccountKey or a SAS)');
  }
}

function parseUrl(text: string): URL {
  try {
    return new URL(text);
  } catch {
    throw settingProblem('the URL is not valid');
  }
}

function settingProblem(message: string): AllowlistError {
  return new AllowlistError('config-container-invalid', `ALLOWLIST_CONFIG_CONTAINER: ${message}`);
}

/** What went wrong reading the container, with the fix; the SDK's own message may quote a SAS, so it is not shown. */
function unreadable(container: string, error: unknown): AllowlistError {
  if (error instanceof AllowlistError) return error;
  const status = (error as { statusCode?: number }).statusCode;
  const code = (error as { code?: string }).code;
  const why =
    status === 404
      ? 'the container does not exist: create it, or fix the name'
      : status === 403 || status === 401
        ? "the app's identity may not read it: give it Storage Blob Data Reader on the container or its account"
        : `it could not be read (${status ?? code ?? 'no answer'})`;
  return new AllowlistError('config-container-unreadable', `ALLOWLIST_CONFIG_CONTAINER ${container.split('?')[0]}: ${why}`);
}
