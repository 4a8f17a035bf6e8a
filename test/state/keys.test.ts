import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AllowlistError } from '../../shared/problem.js';
import { parseTargetRowKey, partitionKeyFor, targetIdOfRowKey, targetRowKey } from '../../shared/state/keys.js';

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    return error instanceof AllowlistError ? error.code : 'not-an-allowlist-error';
  }
}

describe('table keys', () => {
  it('builds target row keys that map back to the target id', () => {
    expect(targetRowKey('prod-fe-1')).toBe('target~prod-fe-1');
    expect(targetIdOfRowKey('target~prod-fe-1')).toBe('prod-fe-1');
    expect(targetIdOfRowKey('config')).toBeUndefined();
    expect(targetIdOfRowKey('lease')).toBeUndefined();
  });

  it('round-trips every id the service accepts', () => {
    const allowed = fc
      .string({ minLength: 1, maxLength: 64, unit: 'grapheme' })
      .filter((id) => !/[/\\#?\u0000-\u001f\u007f-\u009f]/.test(id));
    fc.assert(fc.property(allowed, (id) => targetIdOfRowKey(targetRowKey(id)) === id));
  });

  it('builds keys of later generations that map back to the id and the generation, for every id', () => {
    expect(targetRowKey('prod-fe-1', 12)).toBe('target-g12~prod-fe-1');
    expect(parseTargetRowKey('target-g12~prod-fe-1')).toEqual({ targetId: 'prod-fe-1', generation: 12 });
    expect(parseTargetRowKey('target~prod-fe-1')).toEqual({ targetId: 'prod-fe-1', generation: 0 });
    for (const notTarget of ['config', 'lease', 'target-g~a', 'target-g01~a', 'target-g3', 'target~', 'target-gx~a']) {
      expect(parseTargetRowKey(notTarget)).toBeUndefined();
    }
    const allowed = fc
      .string({ minLength: 1, maxLength: 64, unit: 'grapheme' })
      .filter((id) => !/[/\\#?\u0000-\u001f\u007f-\u009f]/.test(id));
    fc.assert(
      fc.property(allowed, fc.integer({ min: 0, max: 1_000_000 }), (id, generation) => {
        const parsed = parseTargetRowKey(targetRowKey(id, generation));
        return parsed?.targetId === id && parsed.generation === generation;
      }),
    );
  });

  it('rejects "/", "\\", "#", "?", control characters, empty and overlong keys', () => {
    for (const bad of ['a/b', 'a\\b', 'a#b', 'a?b', '\u0000', 'tab\there', 'del\u007f', 'c1\u0085', '', 'x'.repeat(513)]) {
      expect(codeOf(() => targetRowKey(bad))).toBe('invalid-state-key');
      expect(codeOf(() => partitionKeyFor(bad))).toBe('invalid-state-key');
    }
  });

  it('does not echo a whole overlong key in the message', () => {
    let message = '';
    try {
      partitionKeyFor(`${'x'.repeat(600)}/`);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('cannot be used as a table key');
    expect(message.length).toBeLessThan(300);
  });
});
