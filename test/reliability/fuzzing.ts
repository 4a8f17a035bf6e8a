import fc from 'fast-check';
import { expect } from 'vitest';
import { parseCidr } from '../../shared/ipset.js';

/** Random inputs for the fuzz and storm tests, and the check that what comes out is canonical. */

/** Every CIDR is in the one canonical spelling parseCidr produces (network address, prefix, RFC 5952). */
export function expectCanonical(cidrs: readonly string[]): void {
  for (const cidr of cidrs) expect(parseCidr(cidr), `${cidr} is canonical`).toBe(cidr);
}

type Edit = (text: string) => string;

/**
 * Up to five random edits of a document, positions drawn as fractions so one arbitrary fits texts of
 * any length: delete a span, insert a token, duplicate a span, cut the document short, or drop a line.
 */
export function mutations(token: fc.Arbitrary<string>): fc.Arbitrary<Edit> {
  const at = fc.double({ min: 0, max: 1, noNaN: true });
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    fc.tuple(at, fc.nat(400)).map(([where, length]): Edit => (text) => {
      const start = Math.floor(where * text.length);
      return text.slice(0, start) + text.slice(start + length);
    }),
    fc.tuple(at, token).map(([where, inserted]): Edit => (text) => {
      const start = Math.floor(where * text.length);
      return text.slice(0, start) + inserted + text.slice(start);
    }),
    fc.tuple(at, fc.nat(400)).map(([where, length]): Edit => (text) => {
      const start = Math.floor(where * text.length);
      return text.slice(0, start + length) + text.slice(start, start + length) + text.slice(start + length);
    }),
    at.map(
      (where): Edit =>
        (text) =>
          text.slice(0, Math.floor(where * text.length)),
    ),
    at.map((where): Edit => (text) => {
      const lines = text.split('\n');
      lines.splice(Math.floor(where * lines.length), 1);
      return lines.join('\n');
    }),
  );
  return fc
    .array(edit, { minLength: 1, maxLength: 5 })
    .map((edits) => (text: string) => edits.reduce((current, apply) => apply(current), text));
}

/** mulberry32: a tiny deterministic PRNG, so a storm replays identically from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
