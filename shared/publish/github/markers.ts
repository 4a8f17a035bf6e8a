/** Marks commits made by allowlist-drift; a head without it is someone else's work and is never overwritten. */
export const CONFIG_TRAILER = 'Allowlist-Drift-Config';
export const FINGERPRINT_TRAILER = 'Allowlist-Drift-Fingerprint';

/**
 * In every PR body: finds the config's PR whatever its branch (a changed branchPrefix leaves the old one behind),
 * and, through the files it names, the PR of a config that was renamed or that writes the same files.
 */
export function pullRequestMarker(configName: string, paths: readonly string[]): string {
  return `<!-- allowlist-drift:pull-request config=${configName} files=${encodePaths(paths)} -->`;
}

export interface PullRequestMarker {
  configName: string;
  /** Absent in PRs opened by releases before the marker named its files. */
  paths?: string[];
}

/** Only a config name as the config accepts it: anything else in a marker (backticks, "-->") is not the tool's writing. */
const MARKER_PATTERN = /<!-- allowlist-drift:pull-request config=([a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)(?: files=(\S*))? -->/;

export function readPullRequestMarker(body: string | null): PullRequestMarker | undefined {
  const match = MARKER_PATTERN.exec(body ?? '');
  if (!match) return undefined;
  const [, configName, files] = match;
  return { configName: configName!, ...(files === undefined ? {} : { paths: decodePaths(files) }) };
}

function encodePaths(paths: readonly string[]): string {
  return [...new Set(paths)].sort().map(encodeURIComponent).join(',');
}

function decodePaths(files: string): string[] {
  try {
    return files === '' ? [] : files.split(',').map(decodeURIComponent);
  } catch {
    return []; // a hand-edited marker: read as naming no files
  }
}
/** In the comment that withdraws a PR: the close was the tool's own act, not a reviewer's decline. */
export function withdrawnMarker(configName: string): string {
  return `<!-- allowlist-drift:withdrawn config=${configName} -->`;
}

/**
 * In the comment of a withdrawal the config's state records: says the same to people, but is not withdrawnMarker,
 * so only the state, never the comment, makes a close the tool's own.
 */
export function recordedWithdrawalMarker(configName: string): string {
  return `<!-- allowlist-drift:withdrawn config=${configName} recorded -->`;
}
