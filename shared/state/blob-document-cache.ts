// The document cache in Blob Storage: one blob per URL in a container of the state's storage account, reached the
// same way as the Table state (a connection string, or the managed identity with the account's endpoint).
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { TokenCredential } from '@azure/core-auth';
import type {
  BlobDownloadResponseParsed,
  BlobGetPropertiesResponse,
  BlobLeaseClient,
  BlockBlobClient,
  ContainerClient,
} from '@azure/storage-blob';
import { z } from 'zod';
import type { CachedDocument, DocumentCache, DocumentLease, DocumentLeases } from '../net/document-cache.js';
import { AllowlistError } from '../problem.js';
import { md5Of, processDocumentMemo, type DocumentMemo } from './document-memo.js';
import { lazyDefaultAzureCredential, parseConnectionString, parseUrl } from './table-endpoint.js';

export const DEFAULT_DOCUMENT_CONTAINER = 'allowlistdrift-documents';
const CONTAINER_NAME = /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const DEVELOPMENT_BLOB_ENDPOINT = 'http://127.0.0.1:10000/devstoreaccount1';
/** Refuses to inflate beyond this, so a corrupt or hostile blob cannot exhaust memory (http.maxBytes tops at less). */
const MAX_ENVELOPE_BYTES = 128 * 1024 * 1024;
/** Blob metadata name of the last 304: a put (a 200) replaces the blob and drops it, as it should. */
const CONFIRMED_AT = 'confirmedat';
/**
 * A claim's lease: longer than a read of the largest document within the default 30 s fetch timeout, and the longest
 * finite lease Blob Storage grants, so a claimant that died holds the others up for a minute at most.
 */
const DEFAULT_CLAIM_SECONDS = 60;

/** A blob holds one gzip-compressed JSON envelope: the copy and the URL it is of (its name is only a hash). */
const envelope = z.object({
  v: z.literal(1),
  url: z.string(),
  contentType: z.string(),
  etag: z.string().optional(),
  lastModified: z.string().optional(),
  validatedAt: z.string(),
  text: z.string(),
});

/** Where the cache's blobs are: the blob service of the account the storage setting names. */
export type BlobTarget =
  | { readonly kind: 'connection-string'; readonly endpoint: URL; readonly connectionString: string }
  | { readonly kind: 'identity'; readonly endpoint: URL };

/**
 * The blob endpoint of the storage setting, derived as the table endpoint is: a connection string's BlobEndpoint
 * or its account and suffix (UseDevelopmentStorage: local Azurite), or, for the managed-identity form
 * https://<account>.table.<suffix>, https://<account>.blob.<suffix>.
 */
export function blobTargetOf(setting: string): BlobTarget {
  const trimmed = setting.trim();
  if (/^https?:\/\//i.test(trimmed)) {
    const table = parseUrl(trimmed);
    const named = /^([a-z0-9]+)\.table\.(.+)$/i.exec(table.hostname);
    if (!named) {
      throw cacheError(
        `the blob endpoint cannot be told from the table endpoint ${table.host}; use a connection string, or https://<account>.table.<suffix>`,
      );
    }
    return { kind: 'identity', endpoint: secureOrLocal(new URL(`${table.protocol}//${named[1]}.blob.${named[2]}`)) };
  }
  const parts = parseConnectionString(trimmed);
  const explicit = parts.get('blobendpoint');
  const account = parts.get('accountname');
  let endpoint: string;
  if (parts.get('usedevelopmentstorage')?.toLowerCase() === 'true') endpoint = DEVELOPMENT_BLOB_ENDPOINT;
  else if (explicit) endpoint = explicit;
  else if (account)
    endpoint = `${parts.get('defaultendpointsprotocol') ?? 'https'}://${account}.blob.${parts.get('endpointsuffix') ?? 'core.windows.net'}`;
  else throw cacheError('the storage connection string has neither BlobEndpoint nor AccountName');
  return { kind: 'connection-string', endpoint: secureOrLocal(parseUrl(endpoint)), connectionString: trimmed };
}

/** The account key or token goes with every request: plain http only to Azurite on this machine. */
function secureOrLocal(url: URL): URL {
  if (url.protocol === 'https:') return url;
  const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(url.hostname);
  if (url.protocol === 'http:' && loopback) return url;
  throw cacheError(
    `the blob endpoint ${url.protocol}//${url.host} must use https (plain http is only allowed for Azurite on this machine)`,
  );
}

export interface BlobDocumentCacheOptions {
  /** ALLOWLIST_DOCUMENT_CONTAINER; default allowlistdrift-documents. */
  readonly container?: string;
  /** Replaces DefaultAzureCredential for the managed-identity form (tests). */
  readonly credential?: TokenCredential;
  /** The lease of a claim, 15 to 60 s as Blob Storage allows; default 60 (tests shorten it). */
  readonly claimSeconds?: number;
  /** Replaces the process's memo of decoded copies (tests). */
  readonly memo?: DocumentMemo;
}

/**
 * The cache of the storage setting. Nothing is loaded or checked until the first read: @azure/storage-blob stays out
 * of the Functions cold start, and a setting the cache cannot use fails the reads (each a warning), never the app.
 */
export function openDocumentCache(setting: string, options: BlobDocumentCacheOptions = {}): DocumentCache {
  let opened: Promise<ContainerClient> | undefined;
  const container = () => {
    opened ??= connect(setting, options);
    opened.catch(() => (opened = undefined));
    return opened;
  };
  const seconds = options.claimSeconds ?? DEFAULT_CLAIM_SECONDS;
  if (!Number.isInteger(seconds) || seconds < 15 || seconds > 60) throw new RangeError('claimSeconds must be 15 to 60 (a Blob lease)');
  return new BlobDocumentCache(container, new BlobClaims(container, seconds), options.memo ?? processDocumentMemo);
}

async function connect(setting: string, options: BlobDocumentCacheOptions): Promise<ContainerClient> {
  const name = options.container?.trim() || DEFAULT_DOCUMENT_CONTAINER;
  if (!CONTAINER_NAME.test(name)) {
    throw cacheError(
      `ALLOWLIST_DOCUMENT_CONTAINER ${JSON.stringify(name)} is not a container name (3-63 lowercase letters, digits and single hyphens)`,
    );
  }
  const target = blobTargetOf(setting);
  const { BlobServiceClient } = await import('@azure/storage-blob');
  // A cache read that fails costs a full download, not the run: few, short retries.
  const clientOptions = { retryOptions: { maxTries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1_000, tryTimeoutInMs: 30_000 } };
  let service: InstanceType<typeof BlobServiceClient>;
  try {
    service =
      target.kind === 'connection-string'
        ? BlobServiceClient.fromConnectionString(target.connectionString, clientOptions)
        : new BlobServiceClient(target.endpoint.href, options.credential ?? lazyDefaultAzureCredential(), clientOptions);
  } catch {
    throw cacheError('the storage connection string is not valid for Blob Storage (expected AccountName/AccountKey or a SAS)');
  }
  return service.getContainerClient(name);
}

class BlobDocumentCache implements DocumentCache {
  constructor(
    private readonly container: () => Promise<ContainerClient>,
    readonly leases: DocumentLeases,
    private readonly memo: DocumentMemo,
  ) {}

  async get(url: string): Promise<CachedDocument | undefined> {
    const name = blobName(url);
    const container = await this.container();
    const blob = container.getBlobClient(name);
    const key = memoKey(container, name);
    if (this.memo.has(key)) {
      // A copy this process holds: a HEAD says whether the blob is still that body (another worker may have rewritten it).
      let properties: BlobGetPropertiesResponse;
      try {
        properties = await blob.getProperties();
      } catch (error) {
        if (statusOf(error) === 404) {
          this.memo.forget(key);
          return undefined;
        }
        throw storageError(`reading blob ${name}`, error);
      }
      const kept = this.memo.match(key, properties);
      if (kept) return withConfirmation(kept.document, properties.metadata?.[CONFIRMED_AT]);
    }
    let body: Buffer;
    let response: BlobDownloadResponseParsed;
    try {
      // download, not downloadToBuffer: one request that also brings the metadata a confirmation wrote.
      response = await blob.download();
      body = await streamToBuffer(response.readableStreamBody);
    } catch (error) {
      if (error instanceof AllowlistError) throw error;
      if (statusOf(error) === 404) {
        this.memo.forget(key);
        return undefined;
      }
      throw storageError(`reading blob ${name}`, error);
    }
    const decoded = decode(body, url, name);
    const document = response.etag
      ? this.memo.remember(key, { document: decoded, etag: response.etag, md5: md5Of(response.contentMD5), length: body.byteLength })
      : decoded;
    return withConfirmation(document, response.metadata?.[CONFIRMED_AT]);
  }

  /** A metadata write (no body): a 304 is recorded for the cost of one small request. */
  async confirm(url: string, at: string): Promise<void> {
    const name = blobName(url);
    const blob = (await this.container()).getBlobClient(name);
    try {
      await blob.setMetadata({ [CONFIRMED_AT]: at });
    } catch (error) {
      // A copy gone since it was read has nothing to confirm: the next run downloads it anyway.
      if (statusOf(error) === 404) return;
      throw storageError(`recording the confirmation of blob ${name}`, error);
    }
  }

  async put(document: CachedDocument): Promise<void> {
    const name = blobName(document.url);
    const container = await this.container();
    const body = gzipSync(JSON.stringify({ v: 1, ...document }));
    const upload = () => container.getBlockBlobClient(name).uploadData(body, { blobHTTPHeaders: { blobContentType: 'application/gzip' } });
    const key = memoKey(container, name);
    let written: Awaited<ReturnType<typeof upload>>;
    try {
      written = await upload();
    } catch (error) {
      this.memo.forget(key);
      if (statusOf(error) !== 404) throw storageError(`writing blob ${name}`, error);
      // The first write of an app creates the container (the Bicep may not have, and Azurite starts empty).
      try {
        await container.createIfNotExists();
        written = await upload();
      } catch (retried) {
        throw storageError(`writing blob ${name}`, retried);
      }
    }
    // The response's ETag is of exactly this body: the next read here needs only a HEAD. Kept as decode() reads it back.
    const { v: _version, ...kept } = envelope.parse({ v: 1, ...document });
    if (written.etag)
      this.memo.remember(key, { document: kept, etag: written.etag, md5: md5Of(written.contentMD5), length: body.byteLength });
  }
}

/**
 * A claim is a lease on a small blob of its own per URL (locks/<hash>), never on the copy: writing the copy then needs
 * no lease id, and a lapsed or stolen claim can never block a write.
 */
class BlobClaims implements DocumentLeases {
  constructor(
    private readonly container: () => Promise<ContainerClient>,
    readonly seconds: number,
  ) {}

  async take(url: string): Promise<DocumentLease | undefined> {
    const name = lockName(url);
    const container = await this.container();
    const lock = container.getBlockBlobClient(name);
    const lease = lock.getBlobLeaseClient();
    try {
      return (await this.acquire(lease)) ? releasable(lease, name) : undefined;
    } catch (error) {
      if (statusOf(error) !== 404) throw storageError(`taking the lease on blob ${name}`, error);
    }
    // The first claim of a URL creates its lock blob (and, in a new app, the container).
    try {
      await createLock(container, lock);
      return (await this.acquire(lease)) ? releasable(lease, name) : undefined;
    } catch (error) {
      throw storageError(`taking the lease on blob ${name}`, error);
    }
  }

  /** False when another worker holds the lease (409: held, or being broken). */
  private async acquire(lease: BlobLeaseClient): Promise<boolean> {
    try {
      await lease.acquireLease(this.seconds);
      return true;
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw error;
    }
  }
}

function releasable(lease: BlobLeaseClient, name: string): DocumentLease {
  return {
    async release() {
      try {
        await lease.releaseLease();
      } catch (error) {
        // 409: the lease lapsed (the read outlasted it) and may be another worker's now; nothing of ours to release.
        if (statusOf(error) !== 409) throw storageError(`releasing the lease on blob ${name}`, error);
      }
    },
  };
}

/** An empty blob; one that another worker created meanwhile (409 or 412) is as good. */
async function createLock(container: ContainerClient, lock: BlockBlobClient): Promise<void> {
  const create = () => lock.upload('', 0, { conditions: { ifNoneMatch: '*' } });
  try {
    await create();
  } catch (error) {
    const status = statusOf(error);
    if (status === 409 || status === 412) return;
    if (status !== 404) throw error;
    await container.createIfNotExists();
    await create().catch((again: unknown) => {
      const retried = statusOf(again);
      if (retried !== 409 && retried !== 412) throw again;
    });
  }
}

/** The lock blob of a URL's claim, beside its copy. */
export function lockName(url: string): string {
  return `locks/${createHash('sha256').update(url, 'utf8').digest('hex')}`;
}

/** One blob per URL, named by its hash: URLs are longer and freer than blob names. */
export function blobName(url: string): string {
  return `${createHash('sha256').update(url, 'utf8').digest('hex')}.json.gz`;
}

/** The memo's key: the account and container (not a SAS in the query) and the blob. */
function memoKey(container: ContainerClient, name: string): string {
  const url = new URL(container.url);
  return `${url.origin}${url.pathname}/${name}`;
}

/** Metadata is anyone's with write access to the container: only a date is taken, and only one after the full read. */
function withConfirmation(document: CachedDocument, confirmed: string | undefined): CachedDocument {
  return confirmed && Date.parse(confirmed) > Date.parse(document.validatedAt)
    ? { ...document, confirmedAt: new Date(Date.parse(confirmed)).toISOString() }
    : document;
}

function decode(body: Buffer, url: string, name: string): CachedDocument {
  let parsed: z.infer<typeof envelope>;
  try {
    parsed = envelope.parse(JSON.parse(gunzipSync(body, { maxOutputLength: MAX_ENVELOPE_BYTES }).toString('utf8')));
  } catch {
    throw cacheError(`blob ${name} is not a cached document (not the gzip-compressed JSON this app writes)`);
  }
  if (parsed.url !== url) throw cacheError(`blob ${name} holds a copy of another URL`);
  const { v: _version, ...document } = parsed;
  return document;
}

async function streamToBuffer(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream ?? []) {
    const part = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    total += part.byteLength;
    if (total > MAX_ENVELOPE_BYTES) throw cacheError('a blob is larger than a cached document can be');
    chunks.push(part);
  }
  return Buffer.concat(chunks);
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The SDK's messages carry request URLs (a SAS among them): only the status and the service's error code are kept. */
function storageError(what: string, error: unknown): AllowlistError {
  const status = statusOf(error);
  const code = (error as { code?: unknown }).code;
  const named = typeof code === 'string' ? code : ((error as Error)?.name ?? 'error');
  if (status === undefined) return new AllowlistError('document-cache', `${what}: Blob Storage could not be reached (${named})`);
  const fix = status === 403 ? '; the identity needs Storage Blob Data Contributor (or Owner) on the account' : '';
  return new AllowlistError('document-cache', `${what}: Blob Storage answered HTTP ${status} ${named}${fix}`);
}

function cacheError(message: string): AllowlistError {
  return new AllowlistError('document-cache', message);
}
