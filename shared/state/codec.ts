import { brotliCompressSync, brotliDecompressSync, constants as zlibConstants } from 'node:zlib';
import { z } from 'zod';
import { tryParseCidr, type Cidr } from '../ipset.js';
import { EVIDENCE_SCHEMAS } from '../sources/registry.js';
import { StateCorruptError, StateTooLargeError } from './errors.js';
import { CONFIG_ROW_KEY, targetRowKey } from './keys.js';
import type { ConfigRecord, TargetRecord } from './records.js';

/**
 * Row layout: a few plain columns for people browsing the table, and the record itself as brotli-compressed
 * JSON split over Edm.Binary columns d0, d1, ... (a binary property holds at most 64 KiB, an entity 1 MiB).
 * Bump SCHEMA_VERSION when the JSON shape changes incompatibly; older code then reports the row as corrupt
 * instead of misreading it. Which key a target row has (its generation) and the config row's store-owned columns
 * (generation, configVersion, writeId) are not part of the record: see partition.ts.
 */
export const SCHEMA_VERSION = 1;
export const CHUNK_BYTES = 64 * 1024;
/** Leaves room under the 1 MiB entity limit for keys, plain columns and the service's per-property overhead. */
export const MAX_COMPRESSED_BYTES = 960 * 1024;
/** Refuses to inflate beyond this, so a corrupt or hostile row cannot exhaust memory. */
const MAX_JSON_BYTES = 128 * 1024 * 1024;
const MAX_CHUNKS = Math.ceil(MAX_COMPRESSED_BYTES / CHUNK_BYTES);

export type RowKind = 'target' | 'config';

/** What the store hands to the SDK (partition key added by the caller). */
export interface EncodedRow {
  readonly rowKey: string;
  readonly columns: Record<string, string | number | Uint8Array>;
  readonly compressedBytes: number;
}

/**
 * A target row repeats each CIDR in its baseline, entries and proposal, and large rows hold tens of thousands;
 * remembering the strings already found canonical makes validating them affordable.
 */
const knownCanonical = new Set<string>();
const MAX_KNOWN_CANONICAL = 200_000;

function isCanonicalCidr(text: string): boolean {
  if (knownCanonical.has(text)) return true;
  if (tryParseCidr(text) !== text) return false;
  if (knownCanonical.size >= MAX_KNOWN_CANONICAL) knownCanonical.clear();
  knownCanonical.add(text);
  return true;
}

const cidr = z
  .string()
  .refine(isCanonicalCidr, 'not a canonical CIDR')
  .transform((text) => text as Cidr);
const problem = z.object({ code: z.string(), message: z.string() });
/** Each source's schema.ts defines the evidence kinds it records. */
const evidence = z.discriminatedUnion('kind', EVIDENCE_SCHEMAS);
const storedObservation = z.object({
  observedAt: z.string(),
  status: z.enum(['ok', 'partial', 'error']),
  entries: z.array(z.object({ cidr, evidence: z.array(evidence) })),
  warnings: z.array(problem),
  errors: z.array(problem),
  facts: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
});
/** The latest good observation is usually the latest observation; storing it twice would double the row. */
const SAME_AS_OBSERVATION = 'same-as-observation';
const storedTarget = z.object({
  targetId: z.string(),
  baseline: z.array(cidr).nullable(),
  baselineAt: z.string().optional(),
  observation: storedObservation.optional(),
  lastGood: z.union([storedObservation, z.literal(SAME_AS_OBSERVATION)]).optional(),
  missingEvidence: z.array(z.object({ cidr, evidence: z.array(evidence), seenAt: z.string().optional() })).optional(),
  proposed: z.array(cidr).optional(),
  misses: z.record(z.string(), z.number().int().nonnegative()),
  firstSeen: z.record(z.string(), z.string()),
  lastCheckAt: z.string().optional(),
  lastGoodCheckAt: z.string().optional(),
  lastStatus: z.enum(['ok', 'partial', 'error', 'held']).optional(),
  lastErrors: z.array(problem),
  lastWarnings: z.array(problem),
  verdicts: z.array(
    z.object({
      guard: z.enum(['empty-observation', 'mass-removal', 'mass-addition', 'range-flood', 'broad-prefix', 'special-range', 'widening']),
      outcome: z.enum(['pass', 'hold']),
      message: z.string(),
    }),
  ),
  // Both optional: rows written before approvals existed read as "nothing held, nothing approved".
  held: z
    .object({
      added: z.array(cidr),
      removed: z.array(cidr),
      addedCount: z.number().int().nonnegative().optional(),
      removedCount: z.number().int().nonnegative().optional(),
      fingerprint: z.string(),
      since: z.string(),
    })
    .optional(),
  approval: z
    .object({ fingerprint: z.string(), at: z.string(), source: z.enum(['cli', 'http', 'github']), by: z.string().optional() })
    .optional(),
});
const storedConfig = z.object({
  configName: z.string(),
  pullRequest: z
    .object({
      number: z.number().int().positive(),
      url: z.string(),
      branch: z.string(),
      headSha: z.string(),
      fingerprint: z.string(),
      state: z.enum(['open', 'merged', 'closed']),
      proposal: z.record(z.string(), z.array(cidr)),
      updatedAt: z.string(),
      blockedNotice: z.string().optional(),
      textFingerprint: z.string().optional(),
      // Optional: records of earlier releases have none, and an earlier release reading this one drops it.
      withdrawal: z.object({ number: z.number().int().positive(), headSha: z.string(), at: z.string() }).optional(),
      author: z.string().optional(),
    })
    .optional(),
  dashboard: z
    .object({
      number: z.number().int().positive(),
      state: z.enum(['open', 'closed']),
      bodyHash: z.string().optional(),
      author: z.string().optional(),
    })
    .optional(),
  declined: z.array(z.string()),
  base: z
    .object({
      sha: z.string(),
      tree: z.string(),
      etag: z.string().optional(),
      fingerprint: z.string(),
      differs: z.array(z.object({ path: z.string(), missing: z.array(cidr) })),
    })
    .optional(),
  lastRunId: z.string().optional(),
  lastRunAt: z.string().optional(),
});

export function encodeTargetRecord(record: TargetRecord, updatedAt: string): EncodedRow {
  const { etag: _etag, ...body } = record;
  const stored =
    body.lastGood && body.observation && JSON.stringify(body.lastGood) === JSON.stringify(body.observation)
      ? { ...body, lastGood: SAME_AS_OBSERVATION }
      : body;
  const rowKey = targetRowKey(record.targetId);
  return encodeRow({
    rowKey,
    plain: { kind: 'target', targetId: record.targetId },
    body: stored,
    subject: `target "${record.targetId}"`,
    updatedAt,
  });
}

/**
 * Why this target's record, or its part of the PR record (`proposal`), could not be stored: asked before anything is
 * published, so a change whose state cannot be kept is never sent to GitHub.
 */
export function unstorable(record: TargetRecord, proposal: readonly Cidr[]): StateTooLargeError | undefined {
  const pullRequest = { number: 1, url: '', branch: '', headSha: '', fingerprint: '', state: 'open' as const, updatedAt: '' };
  try {
    encodeTargetRecord(record, '');
    encodeConfigRecord(
      { configName: '', declined: [], pullRequest: { ...pullRequest, proposal: { [record.targetId]: [...proposal] } } },
      '',
    );
    return undefined;
  } catch (error) {
    if (error instanceof StateTooLargeError) return error;
    throw error;
  }
}

export function encodeConfigRecord(record: ConfigRecord, updatedAt: string): EncodedRow {
  const { etag: _etag, ...body } = record;
  return encodeRow({
    rowKey: CONFIG_ROW_KEY,
    plain: { kind: 'config', configName: record.configName },
    body,
    subject: `config "${record.configName}"`,
    updatedAt,
  });
}

/** Decodes a target row; `expectedTargetId` comes from the row key, so a row copied under another key is caught. */
export function decodeTargetRecord(
  rowKey: string,
  expectedTargetId: string,
  columns: Readonly<Record<string, unknown>>,
  etag: string | undefined,
): TargetRecord {
  const stored = parseBody(rowKey, 'target', columns, storedTarget);
  if (stored.targetId !== expectedTargetId) throw new StateCorruptError(rowKey, `it holds target "${stored.targetId}"`);
  const { lastGood, ...rest } = stored;
  const record: TargetRecord = { ...rest };
  // The first release (2152b48) stored a partial check as "error" with the observation's errors, which a partial
  // check with only warnings (a CAS heading no section maps) does not have: status then showed an error without
  // errors. The stored observation still says what the check was.
  if (record.lastStatus === 'error' && record.observation?.status === 'partial') record.lastStatus = 'partial';
  if (lastGood === SAME_AS_OBSERVATION) {
    if (!stored.observation) throw new StateCorruptError(rowKey, 'lastGood refers to a missing observation');
    // A separate copy, so that the engine updating one of them does not silently change the other.
    record.lastGood = structuredClone(stored.observation);
  } else if (lastGood) {
    record.lastGood = lastGood;
  }
  if (etag !== undefined) record.etag = etag;
  return record;
}

export function decodeConfigRecord(
  rowKey: string,
  expectedConfigName: string,
  columns: Readonly<Record<string, unknown>>,
  etag: string | undefined,
): ConfigRecord {
  const stored = parseBody(rowKey, 'config', columns, storedConfig);
  if (stored.configName !== expectedConfigName) throw new StateCorruptError(rowKey, `it holds config "${stored.configName}"`);
  const record: ConfigRecord = { ...stored };
  if (etag !== undefined) record.etag = etag;
  return record;
}

/** One row: the plain columns people and queries read, and the body as compressed JSON; `subject` names it in errors. */
function encodeRow({
  rowKey,
  plain,
  body,
  subject,
  updatedAt,
}: {
  rowKey: string;
  plain: Record<string, string>;
  body: unknown;
  subject: string;
  updatedAt: string;
}): EncodedRow {
  const text = JSON.stringify(body);
  const json = Buffer.from(text, 'utf8');
  if (json.byteLength > MAX_JSON_BYTES) {
    throw new StateTooLargeError(
      `The state of ${subject} is ${mebibytes(json.byteLength)} of JSON, above the ${mebibytes(MAX_JSON_BYTES)} limit.`,
    );
  }
  const compressed = compress(text, json);
  if (compressed.byteLength > MAX_COMPRESSED_BYTES) {
    throw new StateTooLargeError(
      `The state of ${subject} compresses to ${kibibytes(compressed.byteLength)}, above the ${kibibytes(MAX_COMPRESSED_BYTES)} that fit in one table row.`,
    );
  }
  const columns: Record<string, string | number | Uint8Array> = { ...plain, schema: SCHEMA_VERSION, updatedAt };
  let parts = 0;
  for (let offset = 0; offset < compressed.byteLength; offset += CHUNK_BYTES) {
    columns[`d${parts}`] = compressed.subarray(offset, offset + CHUNK_BYTES);
    parts++;
  }
  columns.parts = parts;
  return { rowKey, columns, compressedBytes: compressed.byteLength };
}

/**
 * The last few bodies compressed, by their JSON: a check asks whether its records fit (unstorable) and then writes
 * the same records, and compressing a large one is most of what writing it costs. Brotli is deterministic, so a
 * remembered result is the result. Only the bytes, never the record, are kept.
 */
const compressedBodies = new Map<string, Buffer>();
const REMEMBERED_BODIES = 4;
/** Bodies larger than this are compressed each time (they would hold on to too much). */
const REMEMBERED_BODY_CHARS = 4 * 1024 * 1024;

function compress(text: string, json: Buffer): Buffer {
  const known = compressedBodies.get(text);
  if (known) return known;
  const compressed = brotliCompressSync(json, {
    params: {
      [zlibConstants.BROTLI_PARAM_QUALITY]: 7,
      [zlibConstants.BROTLI_PARAM_LGWIN]: 24,
      [zlibConstants.BROTLI_PARAM_SIZE_HINT]: json.byteLength,
    },
  });
  if (text.length > REMEMBERED_BODY_CHARS) return compressed;
  compressedBodies.set(text, compressed);
  for (const oldest of compressedBodies.keys()) {
    if (compressedBodies.size <= REMEMBERED_BODIES) break;
    compressedBodies.delete(oldest);
  }
  return compressed;
}

function parseBody<T>(rowKey: string, kind: RowKind, columns: Readonly<Record<string, unknown>>, schema: z.ZodType<T>): T {
  if (columns.kind !== kind) throw new StateCorruptError(rowKey, `its kind is ${JSON.stringify(columns.kind)}, expected "${kind}"`);
  if (columns.schema !== SCHEMA_VERSION) {
    throw new StateCorruptError(rowKey, `its schema version is ${JSON.stringify(columns.schema)}, this version reads ${SCHEMA_VERSION}`);
  }
  const parts = columns.parts;
  if (typeof parts !== 'number' || !Number.isInteger(parts) || parts < 1 || parts > MAX_CHUNKS) {
    throw new StateCorruptError(rowKey, `its part count is ${JSON.stringify(parts)}`);
  }
  const chunks: Uint8Array[] = [];
  for (let index = 0; index < parts; index++) {
    const chunk = columns[`d${index}`];
    if (!(chunk instanceof Uint8Array)) throw new StateCorruptError(rowKey, `column d${index} is missing or not binary`);
    chunks.push(chunk);
  }
  let json: string;
  try {
    json = brotliDecompressSync(Buffer.concat(chunks), { maxOutputLength: MAX_JSON_BYTES }).toString('utf8');
  } catch {
    throw new StateCorruptError(rowKey, 'its data does not decompress');
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new StateCorruptError(rowKey, 'its data is not JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new StateCorruptError(rowKey, `its data does not match the schema${where}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

function kibibytes(bytes: number): string {
  return `${Math.ceil(bytes / 1024)} KiB`;
}

function mebibytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
