import type { Cidr } from '../ipset.js';

/** A JSON array of CIDR strings: the simplest shape for scripts and configuration tools to read. */
export function renderJson(cidrs: readonly Cidr[]): string {
  return `${JSON.stringify(cidrs, null, 2)}\n`;
}
