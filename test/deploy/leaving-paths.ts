import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/**
 * Finds path expressions in the repository's own tooling (tests, bench, scripts, configs) that lead out of the
 * repository root: a clone on a GitHub runner has nothing beside it, so such a read passes here and fails there.
 *
 * Code is read with the TypeScript parser, so comments and test data are not mistaken for paths: only module
 * specifiers, the arguments of path builders (`resolve`, `join`, `new URL(..., import.meta.url)`) and those of
 * file-system reads count. A path built on `import.meta` or `__dirname` starts at the file's folder; one built on
 * anything else (a root constant, `projectRoot()`, the working directory of an npm script) is taken to start at the
 * repository root.
 */

export interface LeavingPath {
  /** Repository-relative file and 1-based line. */
  readonly where: string;
  readonly expression: string;
  readonly resolved: string;
}

const BUILDERS = new Set(['resolve', 'join']);
const PATH_MODULES = new Set(['path', 'posix', 'win32']);
const READERS = new Set([
  'readFileSync',
  'readFile',
  'readdirSync',
  'readdir',
  'existsSync',
  'statSync',
  'stat',
  'createReadStream',
  'opendir',
  'opendirSync',
  'cpSync',
  'cp',
]);
/** Stands for a segment the parser cannot know (a variable); it never leads upwards. */
const UNKNOWN = '<unknown>';
/** The shared material's own folders: naming them in any string means reading beside the repository. */
const SHARED_MATERIAL = /(^|[/\\])shared[/\\](fixtures|seeds)([/\\]|$)/;

export function leavingPathsInCode(options: { root: string; file: string; text: string }): LeavingPath[] {
  const { root, file, text } = options;
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: LeavingPath[] = [];
  const report = (node: ts.Node, resolved: string) => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    const where = `${relative(root, file)}:${line}`;
    // A call and the string inside it are one finding.
    if (!found.some((path) => path.where === where)) found.push({ where, expression: node.getText(source), resolved });
  };
  const outside = (path: string) => path !== root && !path.startsWith(root + sep);

  const visit = (node: ts.Node) => {
    if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && SHARED_MATERIAL.test(node.text)) {
      report(node, node.text);
    }
    const specifier = moduleSpecifier(node);
    if (specifier?.startsWith('.') && outside(resolve(dirname(file), specifier))) report(node, resolve(dirname(file), specifier));
    if (ts.isCallExpression(node) || ts.isNewExpression(node)) {
      const name = calleeName(node.expression);
      const args = [...(node.arguments ?? [])];
      const anchored = args.some((arg) => /\bimport\.meta\b|\b__dirname\b/.test(arg.getText(source)));
      const start = anchored ? dirname(file) : root;
      let resolved: string | undefined;
      if (name === 'URL' && ts.isNewExpression(node)) {
        // Only a file URL relative to this module is a path; other URLs are HTTP addresses of the test peers.
        const spec = literalText(args[0]);
        if (anchored && spec !== undefined && !/^[a-z]+:/i.test(spec)) resolved = resolve(start, spec);
      } else if (name !== undefined && BUILDERS.has(name)) {
        const segments = args.flatMap((arg, index) => {
          const spec = literalText(arg);
          if (spec !== undefined) return [spec];
          return index === 0 ? [] : [UNKNOWN]; // a leading expression is the base taken above
        });
        if (segments.some((segment) => segment !== UNKNOWN)) resolved = resolve(start, ...segments);
      } else if (name !== undefined && READERS.has(name)) {
        const spec = literalText(args[0]);
        if (spec !== undefined) resolved = resolve(start, spec);
      }
      if (resolved !== undefined && outside(resolved)) report(node, resolved);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Relative paths in a JSON config (tsconfig `extends`/`include`, package.json scripts) that climb out of the root. */
export function leavingPathsInJson(options: { root: string; file: string; text: string }): LeavingPath[] {
  const { root, file, text } = options;
  const found: LeavingPath[] = [];
  const lines = text.split('\n');
  const inside = (path: string) => path === root || path.startsWith(root + sep);
  const check = (value: string, from: string) => {
    for (const token of value.split(/\s+/)) {
      const candidate = token.replace(/^["']|["']$/g, '');
      const leaves = (candidate === '..' || candidate.startsWith('../')) && !inside(resolve(from, candidate));
      const absolute = isAbsolute(candidate) && !inside(candidate);
      if (leaves || absolute || SHARED_MATERIAL.test(candidate)) {
        const index = lines.findIndex((line) => line.includes(token));
        found.push({ where: `${relative(root, file)}:${index + 1}`, expression: token, resolved: resolve(from, candidate) });
      }
    }
  };
  const walk = (value: unknown, inScripts: boolean): void => {
    if (typeof value === 'string') check(value, inScripts ? root : dirname(file));
    else if (Array.isArray(value)) for (const item of value) walk(item, inScripts);
    else if (value && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) walk(item, inScripts || key === 'scripts');
    }
  };
  walk(JSON.parse(text), false);
  return found;
}

/** The module an import, a re-export or a dynamic import() names, when written as a string. */
function moduleSpecifier(node: ts.Node): string | undefined {
  if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
    return literalText(node.moduleSpecifier);
  }
  if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) return literalText(node.arguments[0]);
  return undefined;
}

/** `resolve`, `path.join`, `fs.readFileSync`; an array's `.join` or a promise's `.resolve` is no path builder. */
function calleeName(expression: ts.Expression): string | undefined {
  if (ts.isIdentifier(expression)) return expression.text;
  if (!ts.isPropertyAccessExpression(expression)) return undefined;
  const name = expression.name.text;
  if (READERS.has(name)) return name;
  const receiver = expression.expression;
  return ts.isIdentifier(receiver) && PATH_MODULES.has(receiver.text) ? name : undefined;
}

/** A string argument's text; a template's substitutions become unknown segments. */
function literalText(node: ts.Expression | undefined): string | undefined {
  if (node === undefined) return undefined;
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) {
    return node.head.text + node.templateSpans.map((span) => UNKNOWN + span.literal.text).join('');
  }
  return undefined;
}

/** The files the check covers: tests (not their fixture data), bench, scripts, and the configs at the root. */
export function toolingFiles(options: { root: string; list: (dir: string) => string[] }): string[] {
  const { root, list } = options;
  const code = ['test', 'bench', 'scripts']
    .flatMap((dir) => list(join(root, dir)))
    .filter((file) => !file.startsWith(join(root, 'test', 'fixtures') + sep))
    .filter((file) => /\.(c|m)?(t|j)s$|\.json$/.test(file));
  const configs = list(root)
    .filter((file) => dirname(file) === root)
    .filter((file) => /\.config\.(c|m)?(t|j)s$|\.json$/.test(file))
    .filter((file) => !file.endsWith('package-lock.json'));
  return [...code, ...configs].sort();
}
