import type { Problem } from '../problem.js';

/**
 * The accounting of the list readers (json, text): every value a list yields is an entry or named in a warning. A
 * value that is not an address is named with where it stands ("line 4", "[3][0]") and why it was not read.
 */
export interface RejectedValue {
  /** Where the value stands in the document or the selection: "line 4", "value [3][0]". */
  readonly where: string;
  /** What the value is and why it is not an address: `"eu-west" is not an IP address or CIDR`. */
  readonly why: string;
}

/**
 * Past this many, the rest are counted in one warning with where the first and last stand, so that a selection
 * pointed at the wrong field (thousands of region names) does not bury the report.
 */
const NAMED_ONE_BY_ONE = 50;

/** One warning per rejected value (up to NAMED_ONE_BY_ONE), then one for the rest; `of` names the list ("the document"). */
export function rejectedValueWarnings(rejected: readonly RejectedValue[], { code, of }: { code: string; of: string }): Problem[] {
  const named = rejected.slice(0, NAMED_ONE_BY_ONE).map(({ where, why }) => ({
    code,
    message: `${where} of ${of}: ${why}; it is not used, and the target's approved addresses are all kept.`,
  }));
  const rest = rejected.slice(NAMED_ONE_BY_ONE);
  if (rest.length === 0) return named;
  return [
    ...named,
    {
      code,
      message: `${rest.length} more value(s) of ${of} are not addresses either, from ${rest[0]!.where} to ${rest.at(-1)!.where}; none is used.`,
    },
  ];
}
