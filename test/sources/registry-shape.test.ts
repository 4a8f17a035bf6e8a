import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { SOURCES, TARGET_TYPES, typesOnSchedule } from '../../shared/sources/registry.js';
import type { SourceDefinition } from '../../shared/sources/source.js';

const ROOT = join(import.meta.dirname, '../..');
const SCHEDULES = ['OUTSYSTEMS_SCHEDULE', 'CAS_SCHEDULE'] as const;

function productFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

/** Every string literal (quoted or a template without substitutions) of a file, with its line. */
function stringLiterals(path: string): { text: string; line: number }[] {
  const file = ts.createSourceFile(path, readFileSync(join(ROOT, path), 'utf8'), ts.ScriptTarget.Latest, true);
  const found: { text: string; line: number }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      found.push({ text: node.text, line: file.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

describe('a source is complete and one folder', () => {
  it('gives every registered type every part: schema, observe, probe, schedule, configured kinds, doctor part', async () => {
    for (const type of TARGET_TYPES) {
      const source = SOURCES[type] as SourceDefinition & (typeof SOURCES)[typeof type];
      expect(Object.keys(source.fields).length, `${type} fields`).toBeGreaterThan(0);
      expect(typeof (await source.observe()), `${type} observe`).toBe('function');
      expect(SCHEDULES, `${type} schedule`).toContain(source.schedule);
      const kinds = source.evidence.map((schema) => schema.shape.kind.value);
      expect(kinds, `${type} configured kinds are its own`).toEqual(expect.arrayContaining([...source.configured]));
      expect(typeof source.doctor, `${type} doctor`).toBe('object');
      // A source that plans an upstream check has a probe for it, and one without has none (no silent fall-through).
      expect('probe' in source, `${type} declares its probe`).toBe(true);
      if (source.doctor.upstream) expect(typeof (await source.probe!()), `${type} probe`).toBe('function');
      else expect(source.probe, `${type} probe`).toBeNull();
    }
  });

  it('runs every type on exactly one timer, as deployed', () => {
    expect([...typesOnSchedule('OUTSYSTEMS_SCHEDULE'), ...typesOnSchedule('CAS_SCHEDULE')].sort()).toEqual([...TARGET_TYPES].sort());
    expect(typesOnSchedule('OUTSYSTEMS_SCHEDULE')).toEqual(['outsystems']);
    expect(typesOnSchedule('CAS_SCHEDULE').sort()).toEqual([
      'aws-ip-ranges',
      'cas-docs',
      'github-meta',
      'json',
      'm365',
      'odc',
      'service-tags',
      'static',
      'text',
    ]);
  });

  it('names no source type in a product file outside shared/sources/', () => {
    const files = [...productFiles('shared'), ...productFiles('functions'), ...productFiles('bin')].filter(
      (path) => !path.startsWith(join('shared', 'sources')),
    );
    expect(files.length).toBeGreaterThan(20);
    // "json" is also a rule-file format (files[].format), which the config schema and the renderers name.
    const fileFormatModules = new Set([
      join('shared', 'config.ts'),
      join('shared', 'render', 'index.ts'),
      join('shared', 'render', 'read.ts'),
    ]);
    const named = files.flatMap((path) =>
      stringLiterals(path)
        .filter((literal) => (TARGET_TYPES as readonly string[]).includes(literal.text))
        .filter((literal) => !(literal.text === 'json' && fileFormatModules.has(path)))
        .map((literal) => `${path}:${literal.line} '${literal.text}'`),
    );
    expect(named).toEqual([]);
  });

  it('finds a type name where one is written (the scan is not blind)', () => {
    const here = stringLiterals(relative(ROOT, import.meta.filename)).map((literal) => literal.text);
    expect(here).toContain('outsystems');
    expect(here).toContain('cas-docs');
  });
});
