import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { leavingPathsInCode, leavingPathsInJson, toolingFiles, type LeavingPath } from './leaving-paths.js';

const root = resolve(import.meta.dirname, '../..');

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) return [];
    return entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)];
  });
}

function scan(file: string, text: string): LeavingPath[] {
  return file.endsWith('.json') ? leavingPathsInJson({ root, file, text }) : leavingPathsInCode({ root, file, text });
}

const format = (found: LeavingPath[]) => found.map((path) => `${path.where}: ${path.expression} -> ${path.resolved}`);

describe('the repository is self-contained', () => {
  const files = toolingFiles({
    root,
    list: (dir) => (dir === root ? readdirSync(root).map((name) => join(root, name)) : listFiles(dir)),
  });

  it('covers the tests, bench, scripts and root configs, not the fixture data', () => {
    const names = files.map((file) => file.slice(root.length + 1));
    expect(names).toEqual(
      expect.arrayContaining([
        'test/peers/http.ts',
        'bench/figures.ts',
        'scripts/package.ts',
        'vitest.config.ts',
        'test/tsconfig.json',
        'package.json',
      ]),
    );
    expect(names.filter((name) => name.startsWith('test/fixtures/'))).toEqual([]);
  });

  it('no test, benchmark, script or config reads outside the repository root', () => {
    const found = files.flatMap((file) => scan(file, readFileSync(file, 'utf8')));
    // Keep fixtures in test/fixtures/<source>/ (test/fixtures/README.md) and read them with sharedFile().
    expect(format(found)).toEqual([]);
  });
});

describe('the check finds paths that leave the root', () => {
  // Spelt apart so that this file's own test data does not name the shared material.
  const shared = 'shared';
  const at = (path: string) => join(root, path);
  const code = (path: string, text: string) => format(leavingPathsInCode({ root, file: at(path), text }));

  it('reports the shared folder beside the repository, with file and line', () => {
    // The lines the tests and bench used before the fixtures moved into the repository.
    const http = [
      "import { resolve } from 'node:path';",
      "export const SHARED_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../shared');",
    ].join('\n');
    expect(code('test/peers/http.ts', http)).toEqual([
      `test/peers/http.ts:2: resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../shared') -> ${join(dirname(root), shared)}`,
    ]);
    expect(code('bench/figures.ts', "const path = resolve(projectRoot(), '../shared', relative);")).toHaveLength(1);
    expect(code('test/x.test.ts', `readFileSync('/work/${shared}/fixtures/odc/odc-public-ips_2025-05-28.md');`)).toHaveLength(1);
    expect(code('test/x.test.ts', `const dir = '${shared}/seeds';`)).toHaveLength(1);
  });

  it('joins separate ".." segments and follows the base a path is built on', () => {
    expect(code('test/a/b.test.ts', "join(import.meta.dirname, '..', '..', '..', 'shared')")).toHaveLength(1);
    expect(code('test/a/b.test.ts', "resolve(import.meta.dirname, '../../..')")).toHaveLength(1);
    expect(code('test/a/b.test.ts', 'readFileSync(new URL(`../../../../shared/${name}`, import.meta.url))')).toHaveLength(1);
    expect(code('scripts/x.ts', "join(ROOT, '..')")).toHaveLength(1);
    expect(code('test/a/b.test.ts', "readdirSync('../fixtures')")).toHaveLength(1);
    expect(code('test/a/b.test.ts', "import { x } from '../../../../shared/x.js';")).toHaveLength(1);
    expect(code('test/a/b.test.ts', "const m = await import('../../../elsewhere.js');")).toHaveLength(1);
    expect(code('test/a/b.test.ts', "export { y } from '../../../y.js';")).toHaveLength(1);
  });

  it('leaves alone what stays inside: the root itself, imports, HTTP routes, test data, comments', () => {
    const inside = [
      "import { parseConfig } from '../../shared/config.js';",
      "const root = resolve(import.meta.dirname, '../..');",
      "const page = readFileSync(new URL('../fixtures/cas/engine-complete.md', import.meta.url));",
      "const url = new URL('/../../etc/passwd', peer.url);",
      "const garbage = JSON.stringify({ targets: ['../../etc/passwd'] });",
      "// reads '../shared' no longer: resolve(x, '../../..')",
      'const config = `${ROOT}/allowlist-drift.config.json`;',
    ].join('\n');
    expect(code('test/a/b.test.ts', inside)).toEqual([]);
  });

  it('reads JSON configs relative to their folder, and npm scripts relative to the root', () => {
    const json = (path: string, value: unknown) =>
      format(leavingPathsInJson({ root, file: at(path), text: JSON.stringify(value, null, 2) }));
    expect(json('test/tsconfig.json', { extends: '../tsconfig.json', compilerOptions: { rootDir: '..' } })).toEqual([]);
    expect(json('test/tsconfig.json', { include: ['../../shared/**/*.ts'] })).toHaveLength(1);
    expect(json('package.json', { scripts: { test: 'vitest run --dir ../shared' } })).toHaveLength(1);
    expect(json('package.json', { scripts: { bench: 'node .bench/bench/run.js' } })).toEqual([]);
  });
});
