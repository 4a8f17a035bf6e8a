import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The CLI's name as the person typed it, for the commands it suggests: `npx allowlist-drift` under npx or an npm
 * script (npm sets npm_command and npm_lifecycle_event for both), `allowlist-drift` from an installed bin link, and
 * `node <path>` when the compiled file was run directly.
 */
export function commandAsTyped(script: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string {
  if (env.npm_command === 'exec' || env.npm_lifecycle_event) return 'npx allowlist-drift';
  if (!script || basename(script) === 'allowlist-drift') return 'allowlist-drift';
  const near = relative(cwd, script);
  return `node ${near.startsWith('..') || isAbsolute(near) ? script : near}`;
}

/** The version in the package.json above this file: the repository's from dist/bin, the installed package's from node_modules. */
export function packageVersion(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let folder = from; ; folder = dirname(folder)) {
    const manifest = join(folder, 'package.json');
    if (existsSync(manifest)) {
      const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown; version?: unknown };
      if (name === 'allowlist-drift' && typeof version === 'string') return version;
    }
    if (dirname(folder) === folder) return 'unknown';
  }
}
