/**
 * The name fewest edits (ignoring case) from one a document no longer has, for a warning that says what it may have
 * been renamed to. Undefined when there is nothing to choose from.
 */
export function closestName(name: string, names: Iterable<string>): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const other of names) {
    const distance = editDistance(name.toLowerCase(), other.toLowerCase());
    if (best === undefined || distance < best.distance) best = { name: other, distance };
  }
  return best?.name;
}

/** Levenshtein distance: the fewest single-character insertions, deletions and substitutions from a to b. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
