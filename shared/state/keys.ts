import { AllowlistError } from '../problem.js';

export const CONFIG_ROW_KEY = 'config';
export const LEASE_ROW_KEY = 'lease';
/** Rows StateStore.probe() writes and deletes at once to prove the table is writable (`probe~<uuid>`); never state. */
export const PROBE_ROW_PREFIX = 'probe~';
/** Generation 0: the row key every target had before generations existed, and still has while written in place. */
const TARGET_ROW_PREFIX = 'target~';
/** Generation n > 0: `target-g<n>~<id>`. The digits end at the first "~", so any id (even one holding "~") maps back. */
const GENERATION_ROW_PREFIX = 'target-g';
const GENERATION_ROW_KEY = /^target-g([1-9][0-9]{0,14})~/;

/** Azure Tables forbids these in keys; the rest of the store assumes keys are used verbatim. */
const FORBIDDEN_IN_KEYS = /[/\\#?\u0000-\u001f\u007f-\u009f]/;
const MAX_KEY_LENGTH = 512;

/**
 * Checks one key part. Config ids are already restricted to [a-z0-9-], but the store is the last line before
 * the service, and a forbidden character there would make rows unreachable rather than fail loudly.
 */
export function keyPart(kind: string, value: string): string {
  if (value.length === 0) throw invalidKey(kind, value, 'it is empty');
  if (value.length > MAX_KEY_LENGTH) throw invalidKey(kind, value, `it is longer than ${MAX_KEY_LENGTH} characters`);
  if (FORBIDDEN_IN_KEYS.test(value)) throw invalidKey(kind, value, 'it contains "/", "\\", "#", "?" or a control character');
  return value;
}

export function partitionKeyFor(configName: string): string {
  return keyPart('config name', configName);
}

/**
 * The row key of a target's row written in `generation`: 0 (the default) is `target~<id>`, the layout of the first
 * release, used for rows written in place; a row written by a write that spans several transactions gets a key of
 * its own generation, so it cannot replace the committed row before that write commits.
 */
export function targetRowKey(targetId: string, generation = 0): string {
  const id = keyPart('target id', targetId);
  if (!Number.isSafeInteger(generation) || generation < 0)
    throw new RangeError(`A generation must be a non-negative integer, not ${generation}`);
  return generation === 0 ? TARGET_ROW_PREFIX + id : `${GENERATION_ROW_PREFIX}${generation}~${id}`;
}

/** The target id and generation of a target row, or undefined for any other row. */
export function parseTargetRowKey(rowKey: string): { targetId: string; generation: number } | undefined {
  if (rowKey.startsWith(TARGET_ROW_PREFIX)) {
    const targetId = rowKey.slice(TARGET_ROW_PREFIX.length);
    return targetId.length > 0 ? { targetId, generation: 0 } : undefined;
  }
  const match = GENERATION_ROW_KEY.exec(rowKey);
  if (!match) return undefined;
  const targetId = rowKey.slice(match[0].length);
  return targetId.length > 0 ? { targetId, generation: Number(match[1]) } : undefined;
}

/** The target id of a target row of any generation, or undefined for any other row. */
export function targetIdOfRowKey(rowKey: string): string | undefined {
  return parseTargetRowKey(rowKey)?.targetId;
}

function invalidKey(kind: string, value: string, why: string): AllowlistError {
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  return new AllowlistError('invalid-state-key', `The ${kind} ${shown} cannot be used as a table key: ${why}.`);
}
