import { parseCidr, sortCidrs, type Cidr } from '../../ipset.js';
import { fetchDocument, probeUrl, type FetchOptions, type ProbedUrl } from '../../net/http.js';
import { AllowlistError, toProblem, type Problem } from '../../problem.js';
import type { JsonTarget } from '../registry.js';
import { rejectedValueWarnings, type RejectedValue } from '../rejected-values.js';
import { observing, type Reading, type Source, type SourceContext } from '../source.js';
import type { JsonEvidence } from './schema.js';

/** A compiled select expression: the document's selection, or an error (a function given the wrong type, say). */
export type Selector = (document: unknown) => unknown;

/**
 * Compiles a select expression with the JMESPath library, loaded on first use: a config check, and a run without a
 * json target, never load it. An expression that does not compile is the target's error, naming the key.
 */
export async function compileSelect(select: string, key: 'select' | 'version' = 'select'): Promise<Selector> {
  const { compile, TreeInterpreter } = await import('@jmespath-community/jmespath');
  let ast: ReturnType<typeof compile>;
  try {
    ast = compile(select);
  } catch (error) {
    throw new AllowlistError('json-select-invalid', `"${key}" is not a JMESPath expression: ${firstLine(error)} (in ${quote(select)}).`);
  }
  // The library's JSON type is structural; JSON.parse output is that shape by construction.
  return (document) => TreeInterpreter.search(ast, document as Parameters<typeof TreeInterpreter.search>[1]);
}

/** One value the expression yielded, with where it stands in the result ("[3][0]"; "" for a lone string), for warnings. */
interface Yielded {
  readonly value: unknown;
  readonly at: string;
}

/**
 * Reads the selection of a JSON document: every string the expression yields (through nested lists) becomes an
 * entry or a warning naming it; every other value a warning naming it. A document that is not JSON, and a selection
 * that yields nothing (null: a key the expression names is missing; an empty list: a filter that matches nothing)
 * are errors, never an empty list. Values that are not addresses make the reading partial: what they stood for is
 * unknown, so no approved address counts as missed.
 */
export function readJsonSelection(text: string, select: Selector, evidence: JsonEvidence, version?: Selector): Reading {
  const document = parseJson(text);
  const versioned = version ? readVersion(document, version, evidence) : { evidence, warnings: [] };
  let result: unknown;
  try {
    result = select(document);
  } catch (error) {
    throw new AllowlistError(
      'json-select-failed',
      `"select" ${quote(evidence.select)} could not be evaluated on the document: ${firstLine(error)}.`,
    );
  }
  const yielded = flatten(result);
  const cidrs = new Set<Cidr>();
  const rejected: RejectedValue[] = [];
  for (const { value, at } of yielded) {
    const where = at === '' ? 'the value' : `value ${at}`;
    if (typeof value !== 'string') {
      rejected.push({ where, why: `${shown(value)} is ${kindOf(value)}, not a string` });
      continue;
    }
    try {
      cidrs.add(parseCidr(value));
    } catch (error) {
      rejected.push({ where, why: (error as Error).message });
    }
  }
  const warnings = [
    ...versioned.warnings,
    ...rejectedValueWarnings(rejected, { code: 'json-not-address', of: `the selection ${quote(evidence.select)}` }),
  ];
  if (cidrs.size === 0) {
    const none = new AllowlistError(
      'json-no-addresses',
      `The selection ${quote(evidence.select)} yields ${yielded.length} value(s) and none is an address or CIDR: the document or the expression changed.`,
    );
    return { status: 'error', entries: [], warnings, errors: [none.toProblem()] };
  }
  return {
    status: rejected.length === 0 ? 'ok' : 'partial',
    entries: sortCidrs(cidrs).map((cidr) => ({ cidr, evidence: [versioned.evidence] })),
    warnings,
    errors: [],
  };
}

/** The values of a selection, nested lists flattened; a selection of nothing, or of something but lists and strings, is an error. */
function flatten(result: unknown): Yielded[] {
  if (result === null || result === undefined) {
    throw new AllowlistError(
      'json-shape',
      'The selection yields nothing (null): a key the expression names is missing, so the document no longer has the shape it expects.',
    );
  }
  if (typeof result === 'string') return [{ value: result, at: '' }];
  if (!Array.isArray(result)) {
    throw new AllowlistError(
      'json-shape',
      `The selection yields ${kindOf(result)}, not strings or lists of strings: the expression stops above the addresses, or the document changed.`,
    );
  }
  // A stack, not recursion: a document nested thousands of lists deep must be an answer, not a stack overflow.
  const found: Yielded[] = [];
  const pending: Array<{ items: readonly unknown[]; at: string; next: number }> = [{ items: result, at: '', next: 0 }];
  while (pending.length > 0) {
    const list = pending.at(-1)!;
    if (list.next === list.items.length) {
      pending.pop();
      continue;
    }
    const index = list.next++;
    const item = list.items[index];
    const at = `${list.at}[${index}]`;
    if (Array.isArray(item)) pending.push({ items: item, at, next: 0 });
    else found.push({ value: item, at });
  }
  if (found.length === 0) {
    throw new AllowlistError(
      'json-shape',
      'The selection yields an empty list: a filter matches nothing, or the part of the document it reads is gone. Nothing is removed on an empty list.',
    );
  }
  return found;
}

/**
 * The version the document names where the target's `version` expression points: a string or a number. Anything
 * else is a warning, not an error: the addresses are read all the same, only their citation names no version.
 */
function readVersion(document: unknown, version: Selector, evidence: JsonEvidence): { evidence: JsonEvidence; warnings: Problem[] } {
  let value: unknown;
  try {
    value = version(document);
  } catch (error) {
    value = error;
  }
  if ((typeof value === 'string' && value.trim() !== '') || (typeof value === 'number' && Number.isFinite(value))) {
    const text = String(value).trim();
    return { evidence: { ...evidence, version: text.length > 100 ? `${text.slice(0, 100)}…` : text }, warnings: [] };
  }
  const found = value instanceof Error ? `fails (${firstLine(value)})` : `yields ${shown(value)}`;
  return {
    evidence,
    warnings: [
      {
        code: 'json-version-missing',
        message: `"version" ${found}, not a string or number: the document names no version there; its addresses are read all the same.`,
      },
    ],
  };
}

function parseJson(text: string): unknown {
  if (text.trim() === '') throw new AllowlistError('json-not-json', 'The document is empty, not JSON.');
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    const html = /^\s*<(!doctype\s+html|html|head|body)[\s>]/i.test(text)
      ? ' (it is an HTML page: set url to the JSON document itself)'
      : '';
    throw new AllowlistError('json-not-json', `The document is not JSON${html}: ${firstLine(error)}.`);
  }
}

/** A value as JSON, short: a rejected object can be a whole entry of the document. */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export const observeJson: Source<JsonTarget> = observing(async (target, context) => {
  const evidence: JsonEvidence = { kind: 'json', url: target.url, select: target.select };
  try {
    const select = await compileSelect(target.select);
    const version = target.version === undefined ? undefined : await compileSelect(target.version, 'version');
    // On a 304 the cached copy is evaluated again: the expressions or this release may select differently now.
    const { text, unchangedSince } = await fetchDocument(target.url, fetchOptions(target, context), context);
    return readJsonSelection(text, select, unchangedSince === undefined ? evidence : { ...evidence, unchangedSince }, version);
  } catch (error) {
    return { status: 'error', entries: [], warnings: [], errors: [toProblem(error, 'json-failed')] };
  }
});

/**
 * allowlist-drift doctor: the select expression compiles, and the document answers with an accepted media type,
 * without reading it.
 */
export async function probeJson(target: JsonTarget, context: SourceContext): Promise<ProbedUrl> {
  await compileSelect(target.select);
  if (target.version !== undefined) await compileSelect(target.version, 'version');
  return probeUrl(target.url, fetchOptions(target, context));
}

function fetchOptions(target: JsonTarget, context: Pick<SourceContext, 'config' | 'signal'>): FetchOptions {
  return { ...context.config.http, contentTypes: target.contentType, ...(context.signal ? { signal: context.signal } : {}) };
}

function quote(text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
