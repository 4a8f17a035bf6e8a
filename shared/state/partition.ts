import { StateCorruptError } from './errors.js';
import { CONFIG_ROW_KEY, LEASE_ROW_KEY, parseTargetRowKey, targetRowKey } from './keys.js';

/**
 * Generations: how one config's partition stays consistent when a write needs several table transactions.
 *
 * - The config row's ETag is the version of the whole partition: every write changes the config row, in the same
 *   transaction as everything else it writes, conditional on the ETag it started from. Two writers that started
 *   from the same version can never both write.
 * - The config row's `generation` column says which target rows are committed. Target rows are `target~<id>`
 *   (generation 0, the first release's key) or `target-g<n>~<id>`. A row is committed when its generation is at
 *   most the config row's; of a target's committed rows the highest generation is the live one.
 * - A write that fits one transaction (the common small config) updates the live rows in place and leaves the
 *   generation alone: one transaction, as before generations existed.
 * - A larger write puts the new rows under a new generation n in several transactions, each one also updating the
 *   config row conditionally (so each is fenced and a second writer is refused at its first transaction), and
 *   commits last: the final transaction sets generation n (and carries the config record and the lease). Before
 *   that, readers see only the previous generation. Rows it replaced are deleted afterwards.
 * - A write that died between transactions leaves rows of a generation above the committed one. Readers never read
 *   them; the next write that raises the generation deletes them first (it allocates a higher generation, so
 *   they would otherwise become committed), and a smaller write deletes them when its transaction has room.
 */

/** Store-owned columns of the config row; rows of the first release have none of them. */
export const GENERATION_COLUMN = 'generation';
/** Changes whenever the config record is written: what read() reports as the config record's ETag. */
export const CONFIG_VERSION_COLUMN = 'configVersion';
/** A token of the transaction that last changed the config row, to recognise a write whose answer was lost. */
export const WRITE_ID_COLUMN = 'writeId';
/** The columns a keys-only query asks for. */
export const VIEW_COLUMNS = ['RowKey', GENERATION_COLUMN, CONFIG_VERSION_COLUMN, WRITE_ID_COLUMN];

/** Entity-group transaction limits of Azure Table storage. */
export const MAX_TRANSACTION_ACTIONS = 100;
export const MAX_TRANSACTION_BYTES = 4 * 1024 * 1024;
/** Per-action multipart headers and JSON framing, generously rounded up. */
export const ACTION_OVERHEAD_BYTES = 2 * 1024;

export interface LiveRow {
  readonly rowKey: string;
  readonly generation: number;
  readonly etag: string;
}

/** Which rows of a partition hold what, at one version of it. */
export interface PartitionView {
  /** The config row's ETag; undefined when there is no config row. */
  readonly version: string | undefined;
  /** The config record's version ('' = never written: no config row, or a placeholder a target-only write made). */
  readonly configVersion: string;
  /** False for a config row of the first release, whose ETag stands in for its configVersion. */
  readonly configVersionStored: boolean;
  readonly generation: number;
  /** The highest generation of any target row, committed or not: a new generation goes above it. */
  readonly highestGeneration: number;
  readonly writeId: string | undefined;
  /** Target id -> its live row. */
  readonly live: ReadonlyMap<string, LiveRow>;
  /** Rows of generations above the committed one, left by writes that did not commit. */
  readonly uncommitted: readonly string[];
  /** Committed rows that a newer generation of the same target replaced. */
  readonly superseded: readonly string[];
  /** Row key -> ETag of every target row. */
  readonly rowEtags: ReadonlyMap<string, string>;
}

export interface RowOfView {
  readonly rowKey: string;
  readonly etag: string;
  readonly columns: Readonly<Record<string, unknown>>;
}

export const EMPTY_VIEW: PartitionView = {
  version: undefined,
  configVersion: '',
  configVersionStored: true,
  generation: 0,
  highestGeneration: 0,
  writeId: undefined,
  live: new Map(),
  uncommitted: [],
  superseded: [],
  rowEtags: new Map(),
};

/** Sorts a partition's rows into live, uncommitted and superseded; throws state-corrupt for rows this store never writes. */
export function viewOfRows(rows: Iterable<RowOfView>): PartitionView {
  let config: RowOfView | undefined;
  const targets: Array<{ rowKey: string; etag: string; targetId: string; generation: number }> = [];
  for (const row of rows) {
    if (row.rowKey === LEASE_ROW_KEY) continue;
    if (row.rowKey === CONFIG_ROW_KEY) {
      config = row;
      continue;
    }
    const parsed = parseTargetRowKey(row.rowKey);
    if (!parsed) throw new StateCorruptError(row.rowKey, 'the row key is not one this store writes');
    targets.push({ rowKey: row.rowKey, etag: row.etag, ...parsed });
  }
  const generation = config ? generationOf(config.columns) : 0;
  const storedVersion = config?.columns[CONFIG_VERSION_COLUMN];
  if (storedVersion !== undefined && typeof storedVersion !== 'string') {
    throw new StateCorruptError(CONFIG_ROW_KEY, `its ${CONFIG_VERSION_COLUMN} is not text`);
  }
  const writeId = config?.columns[WRITE_ID_COLUMN];
  const live = new Map<string, LiveRow>();
  const superseded: string[] = [];
  const uncommitted: string[] = [];
  const rowEtags = new Map<string, string>();
  let highestGeneration = 0;
  for (const row of targets) {
    rowEtags.set(row.rowKey, row.etag);
    highestGeneration = Math.max(highestGeneration, row.generation);
    if (row.generation > generation) {
      uncommitted.push(row.rowKey);
      continue;
    }
    const current = live.get(row.targetId);
    if (!current || current.generation < row.generation) {
      if (current) superseded.push(current.rowKey);
      live.set(row.targetId, { rowKey: row.rowKey, generation: row.generation, etag: row.etag });
    } else {
      superseded.push(row.rowKey);
    }
  }
  return {
    version: config?.etag,
    configVersion: config ? (storedVersion ?? config.etag) : '',
    configVersionStored: !config || storedVersion !== undefined,
    generation,
    highestGeneration,
    writeId: typeof writeId === 'string' ? writeId : undefined,
    live,
    uncommitted,
    superseded,
    rowEtags,
  };
}

function generationOf(columns: Readonly<Record<string, unknown>>): number {
  const value = columns[GENERATION_COLUMN];
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new StateCorruptError(CONFIG_ROW_KEY, `its ${GENERATION_COLUMN} is ${JSON.stringify(value)}`);
  }
  return value;
}

/** What a write expects to find: the versions its records were read at (undefined = expected absent). */
export interface Expectation {
  readonly config?: { readonly etag: string | undefined; readonly subject: string };
  readonly targets: ReadonlyArray<{ readonly targetId: string; readonly etag: string | undefined; readonly subject: string }>;
}

/** The subjects whose stored version is not the one the write expects; empty when the write may go ahead. */
export function staleSubjects(view: PartitionView, expected: Expectation): string[] {
  const stale: string[] = [];
  if (expected.config && (expected.config.etag ?? '') !== view.configVersion) stale.push(expected.config.subject);
  for (const target of expected.targets) {
    if (view.live.get(target.targetId)?.etag !== target.etag) stale.push(target.subject);
  }
  return stale;
}

/** One target row to write, encoded with its generation-0 key (the planner picks the key). */
export interface TargetRowToWrite {
  readonly targetId: string;
  readonly columns: Readonly<Record<string, string | number | Uint8Array>>;
  readonly bytes: number;
}

export type PlannedRow =
  | {
      readonly action: 'create';
      readonly rowKey: string;
      readonly targetId: string;
      readonly generation: number;
      readonly columns: TargetRowToWrite['columns'];
      readonly bytes: number;
    }
  | {
      readonly action: 'replace';
      readonly rowKey: string;
      readonly targetId: string;
      readonly generation: number;
      readonly columns: TargetRowToWrite['columns'];
      readonly bytes: number;
      readonly etag: string;
    }
  | { readonly action: 'delete'; readonly rowKey: string; readonly bytes: number };

export interface WritePlan {
  /** The committed generation after the write. */
  readonly generation: number;
  /** Every batch also updates the config row and renews the lease; the last one commits. */
  readonly batches: ReadonlyArray<readonly PlannedRow[]>;
  /** Rows the commit leaves superseded: deleted afterwards, as far as it goes (readers ignore them anyway). */
  readonly supersededAfterCommit: readonly string[];
}

export interface PlanInput {
  readonly targets: readonly TargetRowToWrite[];
  /** Bytes of the config action in the final transaction (the config record's, or a small merge). */
  readonly finalConfigBytes: number;
  readonly leased: boolean;
}

/** Bytes a row's binary columns take on the wire (base64), plus the action's framing. */
export function wireBytes(compressedBytes: number): number {
  return Math.ceil(compressedBytes / 3) * 4 + ACTION_OVERHEAD_BYTES;
}

/** A placeholder config row or a merge of a few columns, rounded up generously. */
const SMALL_CONFIG_ACTION_BYTES = 2 * ACTION_OVERHEAD_BYTES;

/**
 * Splits a write into transactions: one when everything fits (rows updated in place), else staging transactions
 * of new-generation rows followed by the committing one.
 */
export function planWrite(view: PartitionView, input: PlanInput): WritePlan {
  const perBatchActions = MAX_TRANSACTION_ACTIONS - 1 - (input.leased ? 1 : 0);
  const leaseBytes = input.leased ? ACTION_OVERHEAD_BYTES : 0;
  const finalBytes = MAX_TRANSACTION_BYTES - input.finalConfigBytes - leaseBytes;
  const stagingBytes = MAX_TRANSACTION_BYTES - SMALL_CONFIG_ACTION_BYTES - leaseBytes;

  const inPlace = (target: TargetRowToWrite): PlannedRow => {
    const live = view.live.get(target.targetId);
    return live
      ? {
          action: 'replace',
          rowKey: live.rowKey,
          targetId: target.targetId,
          generation: live.generation,
          columns: target.columns,
          bytes: target.bytes,
          etag: live.etag,
        }
      : {
          action: 'create',
          rowKey: targetRowKey(target.targetId),
          targetId: target.targetId,
          generation: 0,
          columns: target.columns,
          bytes: target.bytes,
        };
  };
  const deletion = (rowKey: string): PlannedRow => ({ action: 'delete', rowKey, bytes: ACTION_OVERHEAD_BYTES });

  const totalBytes = input.targets.reduce((sum, target) => sum + target.bytes, 0);
  if (input.targets.length <= perBatchActions && totalBytes <= finalBytes) {
    const batch = input.targets.map(inPlace);
    // Housekeeping while there is room: rows of a write that never committed (they exist at this version).
    let room = Math.min(perBatchActions - batch.length, Math.floor((finalBytes - totalBytes) / ACTION_OVERHEAD_BYTES));
    for (const rowKey of view.uncommitted) {
      if (room-- <= 0) break;
      batch.push(deletion(rowKey));
    }
    return { generation: view.generation, batches: [batch], supersededAfterCommit: [] };
  }

  const generation = Math.max(view.generation, view.highestGeneration) + 1;
  const final: PlannedRow[] = [];
  const staged: TargetRowToWrite[] = [];
  let finalUsed = 0;
  for (const target of input.targets) {
    if (final.length < perBatchActions && finalUsed + target.bytes <= finalBytes) {
      final.push(inPlace(target));
      finalUsed += target.bytes;
    } else {
      staged.push(target);
    }
  }
  // Everything of a generation up to the new one becomes committed, so what never committed goes first.
  const stagingRows: PlannedRow[] = [
    ...view.uncommitted.map(deletion),
    ...staged.map((target): PlannedRow => ({
      action: 'create',
      rowKey: targetRowKey(target.targetId, generation),
      targetId: target.targetId,
      generation,
      columns: target.columns,
      bytes: target.bytes,
    })),
  ];
  const batches: PlannedRow[][] = [];
  let current: PlannedRow[] = [];
  let currentBytes = 0;
  for (const row of stagingRows) {
    if (current.length > 0 && (current.length >= perBatchActions || currentBytes + row.bytes > stagingBytes)) {
      batches.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(row);
    currentBytes += row.bytes;
  }
  if (current.length > 0) batches.push(current);
  batches.push(final);
  const supersededAfterCommit = staged.flatMap((target) => {
    const live = view.live.get(target.targetId);
    return live ? [live.rowKey] : [];
  });
  return { generation, batches, supersededAfterCommit };
}

/** The view after a committed write: what the store remembers so the next write needs no extra query. */
export function viewAfterWrite(
  view: PartitionView,
  plan: WritePlan,
  outcome: { version: string; configVersion: string; writeId: string; rowEtags: ReadonlyMap<string, string> },
): PartitionView {
  const live = new Map(view.live);
  const rowEtags = new Map(view.rowEtags);
  const deleted = new Set<string>();
  let highestGeneration = view.highestGeneration;
  for (const row of plan.batches.flat()) {
    if (row.action === 'delete') {
      deleted.add(row.rowKey);
      rowEtags.delete(row.rowKey);
      continue;
    }
    const etag = outcome.rowEtags.get(row.rowKey);
    if (etag === undefined) continue;
    rowEtags.set(row.rowKey, etag);
    live.set(row.targetId, { rowKey: row.rowKey, generation: row.generation, etag });
    highestGeneration = Math.max(highestGeneration, row.generation);
  }
  return {
    version: outcome.version,
    configVersion: outcome.configVersion,
    configVersionStored: true,
    generation: plan.generation,
    highestGeneration,
    writeId: outcome.writeId,
    live,
    uncommitted: view.uncommitted.filter((rowKey) => !deleted.has(rowKey)),
    superseded: [...view.superseded, ...plan.supersededAfterCommit],
    rowEtags,
  };
}
