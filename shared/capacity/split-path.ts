/**
 * A file path with `{n}` ("sg/cas-{n}.auto.tfvars.json") names a set of numbered files, each within the file's
 * limit (shared/capacity/split.ts): the numbered paths, and how to find them among a listing of the repository.
 */

const N = '{n}';

export function isSplitPath(path: string): boolean {
  return path.includes(N);
}

/** The path of file number `n` of the set. */
export function numberedPath(pattern: string, n: number): string {
  return pattern.replace(N, String(n));
}

/** The files of the set among `paths`, by number: only numbers as the tool writes them (1, 2, …; no leading zero). */
export function numberedPaths(pattern: string, paths: Iterable<string>): { n: number; path: string }[] {
  const [before, after] = pattern.split(N) as [string, string];
  const found: { n: number; path: string }[] = [];
  for (const path of paths) {
    if (!path.startsWith(before) || !path.endsWith(after) || path.length <= before.length + after.length) continue;
    const digits = path.slice(before.length, path.length - after.length);
    if (/^[1-9][0-9]{0,5}$/.test(digits)) found.push({ n: Number(digits), path });
  }
  return found.sort((a, b) => a.n - b.n);
}

/** What is wrong with a file's `{n}` (raw config input, `at` is the file's key path), for the config's error list. */
export function splitPathProblems(file: Record<string, unknown>, at: string): string[] {
  if (typeof file.path !== 'string' || !isSplitPath(file.path)) return [];
  const problems: string[] = [];
  if (file.path.split(N).length > 2) problems.push(`${at}.path: "{n}" may appear once; it numbers the files of the set`);
  // A template file with {n} is refused by the capacity checks (config-check.ts); it needs no second line here.
  if (file.format !== 'template' && file.limit === undefined) {
    problems.push(`${at}.limit: a path with "{n}" writes as many numbered files as the limit requires; give the file a "limit"`);
  }
  return problems;
}
