/** A JSON array of CIDR strings: the simplest shape for scripts and configuration tools to read. */
export function renderJson(entries: readonly string[]): string {
  return `${JSON.stringify(entries, null, 2)}\n`;
}
