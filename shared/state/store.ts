import { randomBytes, randomUUID } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { TableClient, odata, type TransactionAction } from '@azure/data-tables';
import { AllowlistError } from '../problem.js';
import {
  accountOfUrl,
  lazyDefaultAzureCredential,
  parseConnectionString,
  parseUrl,
  requireSecureOrLocal,
  requireTableEndpoint,
  settingError,
  tableEndpointOf,
} from './table-endpoint.js';
import { decodeConfigRecord, decodeTargetRecord, encodeConfigRecord, encodeTargetRecord, type EncodedRow } from './codec.js';
import {
  StateConflictError,
  StateTooLargeError,
  LeaseLostError,
  asStorageFailure,
  isLostRace,
  scrubSecrets,
  statusOf,
  unavailable,
  type StateUnavailableError,
} from './errors.js';
import { CONFIG_ROW_KEY, PROBE_ROW_PREFIX, partitionKeyFor } from './keys.js';
import { TableLease, acquireLease, type Lease, type LeaseTable } from './lease.js';
import {
  ACTION_OVERHEAD_BYTES,
  CONFIG_VERSION_COLUMN,
  EMPTY_VIEW,
  GENERATION_COLUMN,
  MAX_TRANSACTION_ACTIONS,
  VIEW_COLUMNS,
  WRITE_ID_COLUMN,
  planWrite,
  staleSubjects,
  viewAfterWrite,
  viewOfRows,
  wireBytes,
  type Expectation,
  type PartitionView,
  type RowOfView,
  type TargetRowToWrite,
  type WritePlan,
} from './partition.js';
import { queueFailuresOn, type QueueFailures } from './queue-failures.js';
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
/** A write re-checks and retries at most this often when other writes to the same config keep getting in first. */
const WRITE_ATTEMPTS = 3;
/** A paged read is repeated at most this often when a write commits while it runs. */
const READ_ATTEMPTS = 3;
/** Partitions whose last seen view a store remembers, so a write after a read needs no query of its own. */
const REMEMBERED_PARTITIONS = 32;
const TABLE_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9]{2,62}$/;

/** One write of a partition as planned from the view it was read in: what each of its transactions builds on. */
interface PlannedWrite {
  partitionKey: string;
  configName: string;
  updatedAt: string;
  view: PartitionView;
  plan: WritePlan;
  configRow: EncodedRow | undefined;
}

/**
 * Run state of one config in one Azure Table partition: a `config` row, a `lease` row and one row per target
 * (`target~<id>`, or `target-g<n>~<id>` when written by a write of several transactions; see partition.ts).
 * Reads are one partition query; a write is one entity-group transaction with ETag conditions when it fits in one,
 * and otherwise a generation committed by its last transaction, so two runs can never interleave half-written state.
 */
export class StateStore {
  #requests = 0;
  /** The last view seen of each partition: lets a write follow a read without a query of its own. */
  readonly #views = new Map<string, PartitionView>();

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
      requireTableEndpoint(url);
      const insecure = requireSecureOrLocal(url, accountOfUrl(url));
      const credential = options.credential ?? lazyDefaultAzureCredential();
      const table = new TableClient(trimmed, tableName, credential, { ...clientOptions, allowInsecureConnection: insecure });
      return new StateStore(table, url.host, [], now);
    }
    const parts = parseConnectionString(trimmed);
    const secrets = [parts.get('accountkey'), parts.get('sharedaccesssignature')].filter((value): value is string => Boolean(value));
    const endpoint = tableEndpointOf(parts);
    requireTableEndpoint(endpoint);
    const insecure = requireSecureOrLocal(endpoint, parts.get('accountname') ?? accountOfUrl(endpoint));
    let table: TableClient;
    try {
      table = TableClient.fromConnectionString(trimmed, tableName, { ...clientOptions, allowInsecureConnection: insecure });
    } catch {
      throw settingError('The storage connection string is not valid (expected AccountName/AccountKey or a SAS).');
    }
    return new StateStore(table, endpoint.host, secrets, now);
  }

  /** The run messages that went to the poison queue, outside every config's partition (queue-failures.ts). */
  queueFailures(): QueueFailures {
    return queueFailuresOn({
      table: this.table,
      clean: (text) => scrubSecrets(text, this.secrets),
      failed: (action, error) => this.unavailable(action, error),
    });
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

  /**
   * Proves the state table is there and writable (allowlist-drift doctor): creates the table if needed, then creates
   * and deletes a row of its own in the config's partition, under a fresh probe row key that no record, the lease
   * included, ever uses. Three requests; read() skips a probe row an interrupted probe left behind.
   */
  async probe(configName: string): Promise<{ readonly table: string; readonly endpointHost: string }> {
    const partitionKey = partitionKeyFor(configName);
    const rowKey = `${PROBE_ROW_PREFIX}${randomUUID()}`;
    await this.ensureTable();
    try {
      await this.table.createEntity({ partitionKey, rowKey, probedAt: this.now().toISOString() });
    } catch (error) {
      throw this.unavailable('write a probe row', error);
    }
    try {
      await this.table.deleteEntity(partitionKey, rowKey);
    } catch (error) {
      throw this.unavailable('delete its probe row', error);
    }
    return { table: this.table.tableName, endpointHost: this.endpointHost };
  }

  /**
   * The whole state of one config: one partition query (paged beyond 1,000 rows; a paged read is checked against
   * the config row's version at its end and repeated if a write committed meanwhile). Rows that do not exist read
   * as empty defaults; rows of a generation that never committed, or that a newer generation replaced, are not read.
   */
  async read(configName: string): Promise<Snapshot> {
    const partitionKey = partitionKeyFor(configName);
    const { view, rows } = await this.queryView(partitionKey, 'read the state', false);
    const byKey = new Map(rows.map((row) => [row.rowKey, row.columns]));
    const snapshot: Snapshot = { config: { configName, declined: [] }, targets: new Map() };
    const configColumns = byKey.get(CONFIG_ROW_KEY);
    if (configColumns) {
      // A placeholder (configVersion '') holds the default record and reads as a config never written.
      const config = decodeConfigRecord(CONFIG_ROW_KEY, configName, configColumns, view.configVersion || undefined);
      if (view.configVersion) snapshot.config = config;
    }
    for (const [targetId, live] of view.live) {
      snapshot.targets.set(targetId, decodeTargetRecord(live.rowKey, targetId, byKey.get(live.rowKey)!, live.etag));
    }
    return snapshot;
  }

  /**
   * Writes the given records atomically: a record with an ETag replaces the stored one only if it is unchanged
   * since it was read, a record without one is created only if it does not exist. A change that fits one table
   * transaction is one transaction; a larger one is written as a new generation in several and committed by the
   * last (see partition.ts), so readers see either all of it or none. With a lease, every transaction also renews
   * it conditionally, so a run that lost its lease cannot write.
   */
  async write(
    configName: string,
    change: { config?: ConfigRecord; targets: TargetRecord[] },
    options: { lease?: Lease } = {},
  ): Promise<WriteReceipt> {
    const partitionKey = partitionKeyFor(configName);
    const updatedAt = this.now().toISOString();
    let configRow: EncodedRow | undefined;
    const expectation: { config?: Expectation['config']; targets: Array<Expectation['targets'][number]> } = { targets: [] };
    if (change.config) {
      if (change.config.configName !== configName) {
        throw new AllowlistError('invalid-state-change', `The config record is for "${change.config.configName}", not "${configName}".`);
      }
      configRow = encodeConfigRecord({ ...change.config, declined: mostRecentDeclined(change.config.declined) }, updatedAt);
      expectation.config = { etag: change.config.etag, subject: `config "${configName}"` };
    }
    const targets: TargetRowToWrite[] = [];
    for (const target of change.targets) {
      if (expectation.targets.some((seen) => seen.targetId === target.targetId)) {
        throw new AllowlistError('invalid-state-change', `Target "${target.targetId}" appears twice in one write.`);
      }
      const row = encodeTargetRecord(target, updatedAt);
      targets.push({ targetId: target.targetId, columns: row.columns, bytes: wireBytes(row.compressedBytes) });
      expectation.targets.push({ targetId: target.targetId, etag: target.etag, subject: `target "${target.targetId}"` });
    }
    const lease = options.lease ? this.ownLease(options.lease, partitionKey) : undefined;
    if (!configRow && targets.length === 0) {
      if (lease) await this.renewByTransaction(lease, configName);
      return { targetEtags: new Map() };
    }

    // The view this store last saw of the partition saves a query; a stale one only costs one. A write that expects
    // nothing to exist yet starts from an empty partition: if it is not, its first transaction is refused unapplied.
    const createsOnly = expectation.config?.etag === undefined && expectation.targets.every((target) => target.etag === undefined);
    let view = this.#views.get(partitionKey) ?? (createsOnly ? EMPTY_VIEW : undefined);
    let authoritative = false;
    for (let attempt = 1; ; attempt++) {
      if (!view || (!authoritative && staleSubjects(view, expectation).length > 0)) {
        view = (await this.queryView(partitionKey, 'read the state before writing it', true)).view;
        authoritative = true;
      }
      const stale = staleSubjects(view, expectation);
      if (stale.length > 0) throw await this.conflict(configName, stale, lease);
      const plan = planWrite(view, {
        targets,
        finalConfigBytes: configRow ? wireBytes(configRow.compressedBytes) : ACTION_OVERHEAD_BYTES,
        leased: lease !== undefined,
      });
      let outcome: Awaited<ReturnType<StateStore['submitPlan']>>;
      try {
        outcome = await this.submitPlan({ partitionKey, configName, updatedAt, view, plan, configRow, lease });
      } catch (error) {
        this.#views.delete(partitionKey);
        throw error;
      }
      if ('receipt' in outcome) return outcome.receipt;
      // The first transaction lost a race that changed nothing this write holds (its own records are checked again).
      view = outcome.raced;
      authoritative = true;
      if (attempt >= WRITE_ATTEMPTS) {
        throw new StateConflictError(
          `The state of config "${configName}" kept changing while this run tried to write it; nothing was written. Read again and retry.`,
        );
      }
    }
  }

  private async submitPlan(
    write: PlannedWrite & { lease: TableLease | undefined },
  ): Promise<{ receipt: WriteReceipt } | { raced: PartitionView }> {
    const { partitionKey, configName, view, plan, lease } = write;
    const configVersion = write.configRow ? newToken() : view.configVersion;
    const rowEtags = new Map<string, string>();
    let version = view.version;
    let writeId = '';
    for (let index = 0; index < plan.batches.length; index++) {
      const rows = plan.batches[index]!;
      const final = index === plan.batches.length - 1;
      writeId = newToken();
      const actions: TransactionAction[] = [
        this.configAction(write, { version, final, configVersion, writeId }),
        ...rows.map((row): TransactionAction => {
          if (row.action === 'delete') return ['delete', { partitionKey, rowKey: row.rowKey }];
          const entity = { partitionKey, rowKey: row.rowKey, ...row.columns };
          return row.action === 'create' ? ['create', entity] : ['update', entity, 'Replace', { etag: row.etag }];
        }),
      ];
      const fencing = lease?.fencingAction();
      if (fencing) actions.push(fencing.action);

      let etags: Array<string | undefined>;
      try {
        etags = (await this.table.submitTransaction(actions)).subResponses.map((response) => response.etag);
      } catch (error) {
        if (!isLostRace(error) && statusOf(error) !== 404) throw this.transactionFailure(error, configName);
        const now = (await this.queryView(partitionKey, 'read the state after a refused write', true)).view;
        if (now.writeId !== writeId) {
          if (lease && !(await lease.isStillHeld().catch(() => true))) throw new LeaseLostError(lease.holder);
          if (index === 0) return { raced: now };
          throw new StateConflictError(
            `Another run changed the state of config "${configName}" while this run was writing it (transaction ${index + 1} of ${plan.batches.length}); nothing was committed. Read again and retry.`,
          );
        }
        // The client retried a transaction whose answer was lost after the service had applied it, and the retry
        // lost to the first attempt's own changes: the transaction is atomic, so every row of it was written.
        if (lease && fencing) await lease.adoptOwnRenewal(fencing.expiresAt).catch(() => false);
        etags = [now.version, ...rows.map((row) => now.rowEtags.get(row.rowKey))];
      }
      version = requireEtag(etags[0], 'the config row');
      rows.forEach((row, offset) => {
        const etag = etags[offset + 1];
        if (row.action !== 'delete' && etag !== undefined) rowEtags.set(row.rowKey, etag);
      });
      if (lease && fencing && etags.length === actions.length) lease.fencedWriteSucceeded(etags[actions.length - 1], fencing.expiresAt);
    }

    let after = viewAfterWrite(view, plan, { version: requireEtag(version, 'the config row'), configVersion, writeId, rowEtags });
    this.remember(partitionKey, after);
    const receipt: WriteReceipt = { targetEtags: new Map() };
    if (write.configRow) receipt.configEtag = configVersion;
    for (const row of plan.batches.flat()) {
      if (row.action === 'delete') continue;
      const etag = rowEtags.get(row.rowKey);
      if (etag !== undefined) receipt.targetEtags.set(row.targetId, etag);
    }
    if (after.superseded.length > 0) {
      const deleted = await this.deleteQuietly(partitionKey, after.superseded);
      after = { ...after, superseded: after.superseded.filter((rowKey) => !deleted.has(rowKey)) };
      if (this.#views.get(partitionKey)?.version === after.version) this.remember(partitionKey, after);
    }
    return { receipt };
  }

  /**
   * The config row's part of one transaction: always conditional on the partition's version (or created when there
   * is no config row), always a fresh write id; the config record itself and a new generation only in the last one.
   */
  private configAction(
    write: PlannedWrite,
    step: { version: string | undefined; final: boolean; configVersion: string; writeId: string },
  ): TransactionAction {
    const { view } = write;
    const generation = step.final ? write.plan.generation : view.generation;
    const key = { partitionKey: write.partitionKey, rowKey: CONFIG_ROW_KEY };
    if (step.final && write.configRow) {
      const entity = {
        ...key,
        ...write.configRow.columns,
        [GENERATION_COLUMN]: generation,
        [CONFIG_VERSION_COLUMN]: step.configVersion,
        [WRITE_ID_COLUMN]: step.writeId,
      };
      return step.version === undefined ? ['create', entity] : ['update', entity, 'Replace', { etag: step.version }];
    }
    if (step.version === undefined) {
      // A placeholder holding the default record, so that the row can serve as the partition's version.
      const placeholder = encodeConfigRecord({ configName: write.configName, declined: [] }, write.updatedAt);
      return [
        'create',
        { ...key, ...placeholder.columns, [GENERATION_COLUMN]: generation, [CONFIG_VERSION_COLUMN]: '', [WRITE_ID_COLUMN]: step.writeId },
      ];
    }
    const merged: Record<string, string | number> = { [WRITE_ID_COLUMN]: step.writeId };
    if (generation !== view.generation) merged[GENERATION_COLUMN] = generation;
    // A first-release config row has no configVersion; its ETag stands in for it, and is kept through the merge.
    if (!view.configVersionStored) merged[CONFIG_VERSION_COLUMN] = view.configVersion;
    return ['update', { ...key, ...merged }, 'Merge', { etag: step.version }];
  }

  /**
   * All rows of a partition (or only the columns a view needs), sorted into a view. A query of several pages is not
   * one snapshot, so it is repeated when the config row changed while it ran.
   */
  private async queryView(
    partitionKey: string,
    action: string,
    keysOnly: boolean,
  ): Promise<{ view: PartitionView; rows: Array<RowOfView> }> {
    for (let attempt = 1; ; attempt++) {
      const rows: RowOfView[] = [];
      let pages = 0;
      try {
        const query = this.table.listEntities<Record<string, unknown>>({
          queryOptions: { filter: odata`PartitionKey eq ${partitionKey}`, ...(keysOnly ? { select: VIEW_COLUMNS } : {}) },
        });
        for await (const page of query.byPage()) {
          pages++;
          for (const entity of page) {
            if (entity.rowKey?.startsWith(PROBE_ROW_PREFIX)) continue;
            rows.push({ rowKey: entity.rowKey ?? '', etag: entity.etag, columns: entity });
          }
        }
      } catch (error) {
        if (statusOf(error) === 404) throw this.unavailable(action, error, 'the table does not exist yet (ensureTable() creates it)');
        throw this.unavailable(action, error);
      }
      const view = viewOfRows(rows);
      if (pages <= 1 || (await this.configVersionNow(partitionKey, action)) === view.version) {
        this.remember(partitionKey, view);
        return { view, rows };
      }
      if (attempt >= READ_ATTEMPTS) {
        throw new StateConflictError(`The state of config "${partitionKey}" kept changing while it was read; read again.`);
      }
    }
  }

  private async configVersionNow(partitionKey: string, action: string): Promise<string | undefined> {
    try {
      return (await this.table.getEntity(partitionKey, CONFIG_ROW_KEY, { queryOptions: { select: ['RowKey'] } })).etag;
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw this.unavailable(action, error);
    }
  }

  /** Deletes rows no reader reads any more, 100 to a transaction; stops at the first failure (the next write retries). */
  private async deleteQuietly(partitionKey: string, rowKeys: readonly string[]): Promise<Set<string>> {
    const deleted = new Set<string>();
    for (let start = 0; start < rowKeys.length; start += MAX_TRANSACTION_ACTIONS) {
      const chunk = rowKeys.slice(start, start + MAX_TRANSACTION_ACTIONS);
      try {
        await this.table.submitTransaction(chunk.map((rowKey): TransactionAction => ['delete', { partitionKey, rowKey }]));
      } catch {
        break;
      }
      for (const rowKey of chunk) deleted.add(rowKey);
    }
    return deleted;
  }

  private remember(partitionKey: string, view: PartitionView): void {
    this.#views.delete(partitionKey);
    this.#views.set(partitionKey, view);
    if (this.#views.size > REMEMBERED_PARTITIONS) this.#views.delete(this.#views.keys().next().value!);
  }

  /** A write with no records but a lease: renews the lease through the same fenced path. */
  private async renewByTransaction(lease: TableLease, configName: string): Promise<void> {
    const fencing = lease.fencingAction();
    try {
      const response = await this.table.submitTransaction([fencing.action]);
      lease.fencedWriteSucceeded(response.subResponses[0]?.etag, fencing.expiresAt);
    } catch (error) {
      if (isLostRace(error) || statusOf(error) === 404) {
        if (await lease.adoptOwnRenewal(fencing.expiresAt).catch(() => false)) return;
        throw new LeaseLostError(lease.holder);
      }
      throw this.transactionFailure(error, configName);
    }
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

  private async conflict(configName: string, subjects: readonly string[], lease: TableLease | undefined): Promise<AllowlistError> {
    if (lease && !(await lease.isStillHeld().catch(() => true))) return new LeaseLostError(lease.holder);
    return new StateConflictError(
      `Another run changed the state of config "${configName}" (${subjects.join(', ')}) since it was read; nothing was written. Read again and retry.`,
    );
  }

  private transactionFailure(error: unknown, configName: string): AllowlistError {
    if (statusOf(error) === 413 || /TooLarge/i.test(asStorageFailure(error)?.code ?? '')) {
      return new StateTooLargeError(`The state of config "${configName}" is too large for a table transaction; nothing was committed.`);
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

function newToken(): string {
  return randomBytes(12).toString('base64url');
}

function requireEtag(etag: string | undefined, what: string): string {
  // Every successful write returns an ETag; without one the next transaction could not be conditional.
  if (!etag) throw new Error(`Table storage returned no ETag for ${what}`);
  return etag;
}
