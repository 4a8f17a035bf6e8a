import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// The shape the code keeps (docs/architecture.md): short files, no runtime import cycle, options objects instead of
// long parameter lists. Product files are everything the app runs: shared/, functions/ and bin/.
const ROOT = resolve(import.meta.dirname, '..');
const PRODUCT_FOLDERS = ['shared', 'functions', 'bin'];
const MAX_LINES = 600;
const MAX_POSITIONAL_PARAMETERS = 4;

// No callback whose signature a library fixes takes more than four parameters, so the rule has no exceptions.

function productFiles(): string[] {
  const files: string[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(join(ROOT, folder), { withFileTypes: true })) {
      const path = `${folder}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(path);
    }
  };
  for (const folder of PRODUCT_FOLDERS) walk(folder);
  return files.sort();
}

const sources = new Map(
  productFiles().map((file) => [file, ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true)]),
);

/** Runtime imports of a file: `import type`, all-type specifier lists and lazy `import()` load nothing at start. */
function runtimeImports(source: ts.SourceFile): string[] {
  const found: string[] = [];
  for (const statement of source.statements) {
    let specifier: ts.Expression | undefined;
    if (ts.isImportDeclaration(statement)) {
      const clause = statement.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((element) => element.isTypeOnly)));
      if (!typeOnly) specifier = statement.moduleSpecifier;
    } else if (ts.isExportDeclaration(statement) && !statement.isTypeOnly) {
      specifier = statement.moduleSpecifier;
    }
    if (specifier && ts.isStringLiteral(specifier) && specifier.text.startsWith('.')) {
      const target = relative(ROOT, resolve(ROOT, dirname(source.fileName), specifier.text)).replace(/\.js$/, '.ts');
      if (sources.has(target)) found.push(target);
    }
  }
  return found;
}

function importCycles(): string[][] {
  const graph = new Map([...sources].map(([file, source]) => [file, runtimeImports(source)]));
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return cycles;
}

function functionName(node: ts.SignatureDeclaration): string {
  if (ts.isConstructorDeclaration(node)) return `${(node.parent as ts.ClassDeclaration).name?.text ?? 'class'}.constructor`;
  if (node.name) return node.name.getText();
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText();
  return `(anonymous, line ${node.getSourceFile().getLineAndCharacterOfPosition(node.getStart()).line + 1})`;
}

/** Every function, method and constructor the product defines with more than four positional parameters. */
function longParameterLists(): string[] {
  const found: string[] = [];
  for (const [file, source] of sources) {
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
        const positional = node.parameters.filter((parameter) => parameter.name.getText() !== 'this');
        if (positional.length > MAX_POSITIONAL_PARAMETERS) found.push(`${file}: ${functionName(node)}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

describe('the shape of the product code', () => {
  it(`keeps every product file at ${MAX_LINES} lines or fewer`, () => {
    const long = [...sources]
      .filter(([, source]) => source.getLineAndCharacterOfPosition(source.end).line > MAX_LINES)
      .map(([file]) => file);
    expect(long).toEqual([]);
  });

  it('has no runtime import cycle among product modules (type imports and lazy import() are not edges)', () => {
    expect(importCycles()).toEqual([]);
  });

  it(`defines no function, method or constructor with more than ${MAX_POSITIONAL_PARAMETERS} positional parameters`, () => {
    expect(longParameterLists()).toEqual([]);
  });

  it('tells a type-only import from a runtime one', () => {
    const probe = ts.createSourceFile(
      'shared/probe.ts',
      "import type { A } from './a.js';\nimport { type B } from './b.js';\nimport { c } from './config.js';\nfunction f(a: 1, b: 2, c: 3, d: 4, e: 5) {}",
      ts.ScriptTarget.Latest,
      true,
    );
    expect(runtimeImports(probe)).toEqual(['shared/config.ts']);
  });
});
