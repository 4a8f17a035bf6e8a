import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { TableClient, odata, type TransactionAction } from '@azure/data-tables';
import { AllowlistError } from '../problem.js';
import { decodeConfigRecord, decodeTargetRecord, encodeConfigRecord, encodeTargetRecord, type EncodedRow } from './codec.js';
import {
  StateConflictError,
  StateCorruptError,
  StateTooLargeError,
  LeaseLostError,
  asStorageFailure,
  isLostRace,
  statusOf,
  unavailable,
  type StateUnavailableError,
} from './errors.js';
import { CONFIG_ROW_KEY, LEASE_ROW_KEY, partitionKeyFor, targetIdOfRowKey } from './keys.js';
import { TableLease, acquireLease, type Lease, type LeaseTable } from './lease.js';
import type { ConfigRecord, Snapshot, TargetRecord } from './records.js';

export type { Lease } from './lease.js';
export {
  LeaseBusyError,
  LeaseLostError,
  StateConflictError,
  StateCorruptError,
  StateTooLargeError,
  StateUnavailableError,
} from './errors.js';

/** The ETags a write produced, so a caller can write the same records again without re-reading. */
export interface WriteReceipt {
  configEtag?: string;
  targetEtags: Map<string, string>;
}

export interface StateStoreOptions {
  tableName?: string;
  /** Used with an https:// table URL instead of DefaultAzureCredential. */
  credential?: TokenCredential;
  /** SDK retries per request (default 3); tests set 0 to fail fast. */
  maxRetries?: number;
  /** The clock for lease expiry (tests). */
  now?: () => Date;
}

export const DEFAULT_TABLE_NAME = 'allowlistdrift';
export const MAX_DECLINED = 20;
/** Entity-group transaction limits of Azure Table storage. */
const MAX_TRANSACTION_ACTIONS = 100;
const MAX_TRANSACTION_BYTES = 4 * 1024 * 1024;
/** Per-action multipart headers and JSON framing, generously rounded up. */
const ACTION_OVERHEAD_BYTES = 2 * 1024;
const TABLE_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9]{2,62}$/;
const DEVELOPMENT_ACCOUNT = 'devstoreaccount1';
const DEVELOPMENT_TABLE_ENDPOINT = 'http://127.0.0.1:10002/devstoreaccount1';

/**
 * Run state of one config in one Azure Table partition: a `config` row, a `lease` row and a `target~<id>` row
 * per target. Reads are one partition query; writes are one entity-group transaction with ETag conditions,
 * so two runs can never interleave half-written state.
 */
export class StateStore {
  #requests = 0;

  private constructor(
    private readonly table: TableClient,
    private readonly endpointHost: string,
    private readonly secrets: readonly string[],
    private readonly now: () => Date,
  ) {
    table.pipeline.addPolicy(
      {
        name: 'allowlistDriftRequestCounter',
        sendRequest: (request, next) => {
          this.#requests++;
          return next(request);
        },
      },
      { afterPhase: 'Retry' },
    );
  }

  /**
   * @param setting a connection string (including "UseDevelopmentStorage=true" for Azurite's defaults) or an
   * https://<account>.table.core.windows.net URL, used with DefaultAzureCredential unless a credential is given.
   */
  static fromSetting(setting: string, options: StateStoreOptions = {}): StateStore {
    const tableName = options.tableName ?? DEFAULT_TABLE_NAME;
    if (!TABLE_NAME_PATTERN.test(tableName)) {
      throw settingError(`The table name ${JSON.stringify(tableName)} is not valid: 3-63 letters and digits, starting with a letter.`);
    }
    const clientOptions = {
      retryOptions: { maxRetries: options.maxRetries ?? 3 },
    };
    const now = options.now ?? (() => new Date());
    const trimmed = setting.trim();
    if (/^https?:\/\//i.test(trimmed)) {
      const url = parseUrl(trimmed);
      const insecure = requireSecureOrLocal(url, accountOfUrl(url));
      const credential = options.credential ?? lazyDefaultAzureCredential();
      const table = new TableClient(trimmed, tableName, credential, { ...clientOptions, allowInsecureConnection: insecure });
      return new StateStore(table, url.host, [], now);
    }
    const parts = parseConnectionString(trimmed);
    const secrets = [parts.get('accountkey'), parts.get('sharedaccesssignature')].filter((value): value is string => Boolean(value));
    const endpoint = tableEndpointOf(parts);
    const insecure = requireSecureOrLocal(endpoint, parts.get('accountname') ?? accountOfUrl(endpoint));
    let table: TableClient;
    try {
      table = TableClient.fromConnectionString(trimmed, tableName, { ...clientOptions, allowInsecureConnection: insecure });
    } catch {
      throw settingError('The storage connection string is not valid (expected AccountName/AccountKey or a SAS).');
    }
    return new StateStore(table, endpoint.host, secrets, now);
  }

  /** HTTP requests sent so far, retries included. */
  requestCount(): number {
    return this.#requests;
  }

  async ensureTable(): Promise<void> {
    try {
      // The SDK already treats 409 TableAlreadyExists as success.
      await this.table.createTable();
    } catch (error) {
      throw this.unavailable('create the table', error);
    }
  }

  /** The whole state of one config in one partition query; rows that do not exist read as empty defaults. */
  async read(configName: string): Promise<Snapshot> {
    const partitionKey = partitionKeyFor(configName);
    const rows: Array<Record<string, unknown> & { rowKey?: string; etag: string }> = [];
    try {
      for await (const entity of this.table.listEntities<Record<string, unknown>>({
        queryOptions: { filter: odata`PartitionKey eq ${partitionKey}` },
      })) {
        rows.push(entity);
      }
    } catch (error) {
      if (statusOf(error) === 404) {
        throw this.unavailable('read the state', error, 'the table does not exist yet (ensureTable() creates it)');
      }
      throw this.unavailable('read the state', error);
    }
    const snapshot: Snapshot = { config: { configName, declined: [] }, targets: new Map() };
    for (const row of rows) {
      const rowKey = row.rowKey ?? '';
      if (rowKey === LEASE_ROW_KEY) continue;
      if (rowKey === CONFIG_ROW_KEY) {
        snapshot.config = decodeConfigRecord(rowKey, configName, row, row.etag);
        continue;
      }
      const targetId = targetIdOfRowKey(rowKey);
      if (targetId === undefined) throw new StateCorruptError(rowKey, 'the row key is not one this store writes');
      snapshot.targets.set(targetId, decodeTargetRecord(rowKey, targetId, row, row.etag));
    }
    return snapshot;
  }

  /**
   * Writes the given records in one transaction: a record with an ETag replaces the stored one only if it is
   * unchanged since it was read, a record without one is created only if it does not exist. With a lease, the
   * transaction also renews it conditionally, so a run that lost its lease cannot write.
   */
  async write(
    configName: string,
    change: { config?: ConfigRecord; targets: TargetRecord[] },
    options: { lease?: Lease } = {},
  ): Promise<WriteReceipt> {
    const partitionKey = partitionKeyFor(configName);
    const updatedAt = this.now().toISOString();
    const rows: Array<{ row: EncodedRow; etag: string | undefined; subject: string }> = [];
    if (change.config) {
      if (change.config.configName !== configName) {
        throw new AllowlistError('invalid-state-change', `The config record is for "${change.config.configName}", not "${configName}".`);
      }
      const config = { ...change.config, declined: mostRecentDeclined(change.config.declined) };
      rows.push({ row: encodeConfigRecord(config, updatedAt), etag: change.config.etag, subject: `config "${configName}"` });
    }
    const seen = new Set<string>();
    for (const target of change.targets) {
      if (seen.has(target.targetId)) {
        throw new AllowlistError('invalid-state-change', `Target "${target.targetId}" appears twice in one write.`);
      }
      seen.add(target.targetId);
      rows.push({ row: encodeTargetRecord(target, updatedAt), etag: target.etag, subject: `target "${target.targetId}"` });
    }
    const lease = options.lease ? this.ownLease(options.lease, partitionKey) : undefined;
    if (rows.length === 0 && !lease) return { targetEtags: new Map() };

    const actions: TransactionAction[] = rows.map(({ row, etag }) => {
      const entity = { partitionKey, rowKey: row.rowKey, ...row.columns };
      return etag === undefined ? ['create', entity] : ['update', entity, 'Replace', { etag }];
    });
    const fencing = lease?.fencingAction();
    if (fencing) actions.push(fencing.action);
    checkTransactionSize(configName, rows.map(({ row }) => row), actions.length);

    let response;
    try {
      response = await this.table.submitTransaction(actions);
    } catch (error) {
      if (lease && fencing && isLostRace(error) && (await lease.adoptOwnRenewal(fencing.expiresAt).catch(() => false))) {
        return this.receiptOfAppliedWrite(configName, rows.map(({ row }) => row));
      }
      throw await this.writeFailure(error, configName, rows.map(({ subject }) => subject), lease);
    }
    const receipt: WriteReceipt = { targetEtags: new Map() };
    rows.forEach(({ row }, index) => {
      const etag = response.subResponses[index]?.etag;
      if (etag === undefined) return;
      const targetId = targetIdOfRowKey(row.rowKey);
      if (targetId === undefined) receipt.configEtag = etag;
      else receipt.targetEtags.set(targetId, etag);
    });
    if (lease && fencing) lease.fencedWriteSucceeded(response.subResponses[rows.length]?.etag, fencing.expiresAt);
    return receipt;
  }

  /**
   * The client retried a transaction whose answer was lost after the service had applied it, and the retry lost to
   * the first attempt's own changes. The transaction is atomic, so every row was written: read back their ETags.
   */
  private async receiptOfAppliedWrite(configName: string, rows: readonly EncodedRow[]): Promise<WriteReceipt> {
    const stored = await this.read(configName);
    const receipt: WriteReceipt = { targetEtags: new Map() };
    for (const row of rows) {
      const targetId = targetIdOfRowKey(row.rowKey);
      const etag = targetId === undefined ? stored.config.etag : stored.targets.get(targetId)?.etag;
      if (etag === undefined) continue;
      if (targetId === undefined) receipt.configEtag = etag;
      else receipt.targetEtags.set(targetId, etag);
    }
    return receipt;
  }

  /** Takes the run lease of a config; throws LeaseBusyError ('run-in-progress') while another run holds it. */
  async acquireLease(configName: string, holder: string, ttlMs: number): Promise<Lease> {
    return acquireLease(this.leaseTable(partitionKeyFor(configName)), holder, ttlMs);
  }

  private leaseTable(partitionKey: string): LeaseTable {
    return {
      table: this.table,
      partitionKey,
      now: this.now,
      unavailable: (action, error) => this.unavailable(action, error),
    };
  }

  private ownLease(lease: Lease, partitionKey: string): TableLease {
    if (!(lease instanceof TableLease) || lease.partitionKey !== partitionKey) {
      throw new AllowlistError('invalid-state-change', 'A write can only be fenced by a lease this store acquired for the same config.');
    }
    return lease;
  }

  private async writeFailure(error: unknown, configName: string, subjects: readonly string[], lease: TableLease | undefined): Promise<AllowlistError> {
    const status = statusOf(error);
    if (isLostRace(error) || status === 404) {
      if (lease && !(await lease.isStillHeld().catch(() => true))) return new LeaseLostError(lease.holder);
      const failed = failedActionIndex(error);
      const subject = failed !== undefined ? subjects[failed] : undefined;
      const which = subject ?? subjects.join(', ');
      return new StateConflictError(
        `Another run changed the state of config "${configName}" (${which}) since it was read; nothing was written. Read again and retry.`,
      );
    }
    if (status === 413 || /TooLarge/i.test(asStorageFailure(error)?.code ?? '')) {
      return new StateTooLargeError(`The state of config "${configName}" is too large for one table transaction; nothing was written.`);
    }
    return this.unavailable('write the state', error);
  }

  private unavailable(action: string, error: unknown, hint?: string): StateUnavailableError {
    const failure = unavailable(action, this.endpointHost, error, this.secrets);
    if (hint) failure.message = `${failure.message} (${hint})`;
    return failure;
  }
}

/** Keeps the newest fingerprints; a fingerprint declined again moves to the end instead of appearing twice. */
function mostRecentDeclined(declined: readonly string[]): string[] {
  const newestFirst: string[] = [];
  for (let index = declined.length - 1; index >= 0 && newestFirst.length < MAX_DECLINED; index--) {
    const fingerprint = declined[index]!;
    if (!newestFirst.includes(fingerprint)) newestFirst.push(fingerprint);
  }
  return newestFirst.reverse();
}

/**
 * Splitting an oversized change over several transactions would let a crash leave half of it written, so a
 * change that does not fit is refused before anything is sent.
 */
function checkTransactionSize(configName: string, rows: readonly EncodedRow[], actionCount: number): void {
  if (actionCount > MAX_TRANSACTION_ACTIONS) {
    throw new StateTooLargeError(
      `Config "${configName}" would write ${actionCount} rows in one transaction; Azure Table storage allows ${MAX_TRANSACTION_ACTIONS} (split the config).`,
    );
  }
  // Binary columns travel as base64, a third larger than the stored bytes.
  const bytes = rows.reduce((sum, row) => sum + Math.ceil(row.compressedBytes / 3) * 4, 0) + actionCount * ACTION_OVERHEAD_BYTES;
  if (bytes > MAX_TRANSACTION_BYTES) {
    throw new StateTooLargeError(
      `Config "${configName}" would send about ${Math.ceil(bytes / 1024)} KiB in one transaction; Azure Table storage allows 4096 KiB (split the config).`,
    );
  }
}

/** Azure prefixes a failed transaction's message with the index of the failing action ("2:The update condition..."). */
function failedActionIndex(error: unknown): number | undefined {
  const match = /^(\d+):/.exec(asStorageFailure(error)?.message ?? '');
  return match ? Number(match[1]) : undefined;
}

function parseConnectionString(setting: string): Map<string, string> {
  const parts = new Map<string, string>();
  for (const element of setting.split(';')) {
    const separator = element.indexOf('=');
    if (separator <= 0) continue;
    parts.set(element.slice(0, separator).trim().toLowerCase(), element.slice(separator + 1).trim());
  }
  if (parts.size === 0) throw settingError('The storage setting is neither a connection string nor an http(s) URL.');
  return parts;
}

function tableEndpointOf(parts: Map<string, string>): URL {
  if (parts.get('usedevelopmentstorage')?.toLowerCase() === 'true') return new URL(DEVELOPMENT_TABLE_ENDPOINT);
  const explicit = parts.get('tableendpoint');
  if (explicit) return parseUrl(explicit);
  const account = parts.get('accountname');
  if (!account) throw settingError('The storage connection string has neither TableEndpoint nor AccountName.');
  const protocol = parts.get('defaultendpointsprotocol') ?? 'https';
  const suffix = parts.get('endpointsuffix') ?? 'core.windows.net';
  return parseUrl(`${protocol}://${account}.table.${suffix}`);
}

/** Returns whether the SDK must be allowed plain HTTP, which is only acceptable for a local emulator. */
function requireSecureOrLocal(url: URL, account: string | undefined): boolean {
  if (url.protocol === 'https:') return false;
  if (url.protocol === 'http:' && (isLoopback(url.hostname) || account === DEVELOPMENT_ACCOUNT)) return true;
  throw settingError(`The table endpoint ${url.protocol}//${url.host} must use https (plain http is only allowed for Azurite on this machine).`);
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Azurite and other path-style endpoints name the account in the path, Azure in the host. */
function accountOfUrl(url: URL): string | undefined {
  const fromPath = url.pathname.split('/').find(Boolean);
  return fromPath ?? url.hostname.split('.')[0];
}

function parseUrl(text: string): URL {
  try {
    return new URL(text);
  } catch {
    throw settingError('The table endpoint in the storage setting is not a valid URL.');
  }
}

function settingError(message: string): AllowlistError {
  return new AllowlistError('state-setting-invalid', message);
}

/**
 * @azure/identity is large and only needed on Azure, so it is imported on the first token request rather than
 * when the module loads.
 */
function lazyDefaultAzureCredential(): TokenCredential {
  let credential: Promise<TokenCredential> | undefined;
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      credential ??= import('@azure/identity').then(({ DefaultAzureCredential }) => new DefaultAzureCredential());
      return (await credential).getToken(scopes, options);
    },
  };
}
