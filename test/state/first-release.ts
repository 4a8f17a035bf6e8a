import { brotliCompressSync, constants as zlibConstants } from 'node:zlib';
import type { TableClient } from '@azure/data-tables';

/**
 * Rows exactly as the first release wrote them (shared/state/codec.ts and store.ts at 2152b48), rebuilt here
 * without the current codec so that a change to it cannot change the fixture: `config`, `lease` and `target~<id>`
 * rows, schema 1, no generation, no configVersion, no writeId; the record as brotli JSON in d0, d1, ... of at most
 * 64 KiB; a lastGood equal to the observation stored as "same-as-observation".
 */

const CHUNK_BYTES = 64 * 1024;

type Columns = Record<string, string | number | Uint8Array>;

function firstReleaseColumns(plain: Record<string, string>, body: unknown, updatedAt: string): Columns {
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  const compressed = brotliCompressSync(json, {
    params: {
      [zlibConstants.BROTLI_PARAM_QUALITY]: 7,
      [zlibConstants.BROTLI_PARAM_LGWIN]: 24,
      [zlibConstants.BROTLI_PARAM_SIZE_HINT]: json.byteLength,
    },
  });
  const columns: Columns = { ...plain, schema: 1, updatedAt };
  let parts = 0;
  for (let offset = 0; offset < compressed.byteLength; offset += CHUNK_BYTES) {
    columns[`d${parts}`] = compressed.subarray(offset, offset + CHUNK_BYTES);
    parts++;
  }
  columns.parts = parts;
  return columns;
}

export function firstReleaseTargetRow(record: { targetId: string; observation?: unknown; lastGood?: unknown }, updatedAt: string) {
  const stored =
    record.lastGood && record.observation && JSON.stringify(record.lastGood) === JSON.stringify(record.observation)
      ? { ...record, lastGood: 'same-as-observation' }
      : record;
  return { rowKey: `target~${record.targetId}`, ...firstReleaseColumns({ kind: 'target', targetId: record.targetId }, stored, updatedAt) };
}

export function firstReleaseConfigRow(record: { configName: string }, updatedAt: string) {
  return { rowKey: 'config', ...firstReleaseColumns({ kind: 'config', configName: record.configName }, record, updatedAt) };
}

/** A config's state as the first release left it: one transaction, the way its store wrote a run's end. */
export async function writeAsFirstRelease(
  raw: TableClient,
  partitionKey: string,
  state: { config: { configName: string }; targets: Array<{ targetId: string }>; lease?: { holder: string; expiresAt: string } },
): Promise<void> {
  const updatedAt = '2025-11-07T11:00:00.000Z';
  const rows = [firstReleaseConfigRow(state.config, updatedAt), ...state.targets.map((target) => firstReleaseTargetRow(target, updatedAt))];
  await raw.submitTransaction(rows.map((row) => ['create', { partitionKey, ...row }]));
  if (state.lease) await raw.createEntity({ partitionKey, rowKey: 'lease', kind: 'lease', ...state.lease });
}
