import { familyOf, tryParseCidr, type Cidr } from '../ipset.js';
import { decideCapacity, limitText } from './capacity.js';
import { countEntries, totalEntries } from './count.js';
import { writesEachAddress } from '../render/template.js';
import { fileFit, fileLimit } from './limit.js';
import { isSplitPath } from './split-path.js';

/**
 * The config checks of the capacity keys, on the raw JSON of one file (shared/config.ts runs them with its other
 * cross-reference checks): what every run would refuse is refused once, at load, naming the key path.
 */
export function capacityConfigProblems(
  file: Readonly<Record<string, unknown>>,
  at: string,
  /** The entries the config itself writes for the file's targets (static targets), as written. */
  fixedEntries: readonly unknown[],
): string[] {
  const problems: string[] = [];
  if (file.format === 'template' && typeof file.path === 'string' && file.path.includes('{n}')) {
    problems.push(
      `${at}.path: a template file has a single generated block, so it cannot be split over numbered files; remove {n} from the path (or use another format to split)`,
    );
  }
  problems.push(...fitProblems(file, at));
  const limit = fileLimit.safeParse(file.limit);
  // A split set spreads its entries over as many files as the limit requires: no count of them is over it.
  if (file.limit === undefined || !limit.success || (typeof file.path === 'string' && isSplitPath(file.path))) return problems;
  const family = file.family === 'ipv4' ? 4 : file.family === 'ipv6' ? 6 : undefined;
  const own = fixedEntries
    .flatMap((entry) => (typeof entry === 'string' ? (tryParseCidr(entry) ?? []) : []))
    .filter((cidr: Cidr) => family === undefined || familyOf(cidr) === family);
  const counted = { format: String(file.format), ...(typeof file.line === 'string' ? { line: file.line } : {}) };
  const count = countEntries(counted, own);
  const decision = decideCapacity({ path: String(file.path), limit: limit.data }, count);
  if (decision?.outcome === 'exceeded') {
    const families = limit.data.perFamily ? ` (IPv4 ${count.ipv4}, IPv6 ${count.ipv6})` : '';
    problems.push(
      `${at}.limit: the static entries of the file's targets alone make ${totalEntries(count)} entries${families}, over the limit of ${limitText(limit.data)}; every run would withhold the file. Raise the limit, or move entries to another file`,
    );
  }
  return problems;
}

/** A `fit` that could never act: without a limit to fit, without a width, or on a file widening only lengthens. */
function fitProblems(file: Readonly<Record<string, unknown>>, at: string): string[] {
  const fit = file.fit;
  // A fit the schema refuses is reported by it; these checks weigh only a valid one.
  if (typeof fit !== 'object' || fit === null || !fileFit.safeParse(fit).success) return [];
  if (file.limit === undefined) return [`${at}.fit: a file is widened only to fit its limit; give the file a limit, or remove fit`];
  if (!('widenTo' in fit) && !('widenTo6' in fit))
    return [`${at}.fit: give widenTo (IPv4) or widenTo6 (IPv6), the widest prefix a cover may be`];
  if (file.format === 'template' && typeof file.line === 'string' && writesEachAddress(file.line)) {
    return [`${at}.fit: this template writes a line per address ({ip} alone), so a wider cover only adds lines; use {cidr} to widen`];
  }
  return [];
}
