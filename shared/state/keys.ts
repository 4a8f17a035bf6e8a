import { AllowlistError } from '../problem.js';

export const CONFIG_ROW_KEY = 'config';
export const LEASE_ROW_KEY = 'lease';
const TARGET_ROW_PREFIX = 'target~';

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

export function targetRowKey(targetId: string): string {
  return TARGET_ROW_PREFIX + keyPart('target id', targetId);
}

/** The target id of a target row, or undefined for any other row. */
export function targetIdOfRowKey(rowKey: string): string | undefined {
  return rowKey.startsWith(TARGET_ROW_PREFIX) ? rowKey.slice(TARGET_ROW_PREFIX.length) : undefined;
}

function invalidKey(kind: string, value: string, why: string): AllowlistError {
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  return new AllowlistError('invalid-state-key', `The ${kind} ${shown} cannot be used as a table key: ${why}.`);
}
