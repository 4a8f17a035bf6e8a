import { parseCidr, sortCidrs, type Cidr } from '../../ipset.js';
import { describe, fetchDocument, probeUrl, type FetchOptions, type ProbedUrl } from '../../net/http.js';
import { AllowlistError, toProblem } from '../../problem.js';
import type { TextTarget } from '../registry.js';
import { rejectedValueWarnings, type RejectedValue } from '../rejected-values.js';
import { observing, type Reading, type Source, type SourceContext } from '../source.js';
import type { TextEvidence } from './schema.js';

/** What a web page is served as: a list URL answering one of these is the page about the list, not the list. */
const HTML_TYPES = ['text/html', 'application/xhtml+xml'];
const HTML_START = /^\s*<(!doctype\s+html|html|head|body)[\s>]/i;
/** A comment runs from "#" or ";" to the end of the line; neither character is part of any address spelling. */
const COMMENT = /[#;].*$/;

/**
 * Reads a plain-text list: one address or CIDR per line, "#" and ";" comments (whole-line or trailing), blank lines
 * ignored. Every other line is an entry or named in a warning with its line number; such a line makes the reading
 * partial (what it stood for is unknown, so no approved address counts as missed). An empty list, one of comments
 * only, and an HTML page are errors, never an empty list.
 */
export function readTextList(text: string, evidence: TextEvidence): Reading {
  const body = text.replace(/^\uFEFF/, '');
  if (HTML_START.test(body)) throw htmlServed(evidence.url, 'an HTML page');
  const cidrs = new Set<Cidr>();
  const rejected: RejectedValue[] = [];
  let listed = 0;
  body.split(/\r\n|\r|\n/).forEach((line, index) => {
    const value = line.replace(COMMENT, '').trim();
    if (value === '') return;
    listed++;
    try {
      cidrs.add(parseCidr(value));
    } catch (error) {
      rejected.push({ where: `line ${index + 1}`, why: (error as Error).message });
    }
  });
  if (listed === 0) {
    throw new AllowlistError(
      'text-empty',
      body.trim() === ''
        ? 'The list is empty. Nothing is removed on an empty list.'
        : 'The list has only comments and blank lines, no address. Nothing is removed on an empty list.',
    );
  }
  const warnings = rejectedValueWarnings(rejected, { code: 'text-not-address', of: 'the list' });
  if (cidrs.size === 0) {
    const none = new AllowlistError(
      'text-no-addresses',
      `None of the ${listed} line(s) of the list is an address or CIDR: the document changed.`,
    );
    return { status: 'error', entries: [], warnings, errors: [none.toProblem()] };
  }
  return {
    status: rejected.length === 0 ? 'ok' : 'partial',
    entries: sortCidrs(cidrs).map((cidr) => ({ cidr, evidence: [evidence] })),
    warnings,
    errors: [],
  };
}

export const observeText: Source<TextTarget> = observing(async (target, context) => {
  try {
    // On a 304 the cached copy is read again, as a changed contentType or a new release of this reader may read it differently.
    const fetched = await fetchDocument(target.url, fetchOptions(target, context), context);
    refuseHtml(target, fetched.contentType);
    const { unchangedSince } = fetched;
    return readTextList(fetched.text, { kind: 'text', url: target.url, ...(unchangedSince === undefined ? {} : { unchangedSince }) });
  } catch (error) {
    return { status: 'error', entries: [], warnings: [], errors: [toProblem(error, 'text-failed')] };
  }
});

/** allowlist-drift doctor: whether the list answers with an accepted media type (not an HTML page), without reading it. */
export async function probeText(target: TextTarget, context: SourceContext): Promise<ProbedUrl> {
  const probed = await probeUrl(target.url, fetchOptions(target, context));
  refuseHtml(target, probed.contentType);
  return probed;
}

/**
 * HTML types are let through the fetch so that an HTML page gets its own error with the fix (the raw list's URL),
 * not the general wrong-media-type one; a target that lists an HTML type in contentType reads it as a list.
 */
function fetchOptions(target: TextTarget, context: Pick<SourceContext, 'config' | 'signal'>): FetchOptions {
  return {
    ...context.config.http,
    contentTypes: [...new Set([...target.contentType, ...HTML_TYPES])],
    ...(context.signal ? { signal: context.signal } : {}),
  };
}

function refuseHtml(target: TextTarget, contentType: string): void {
  if (HTML_TYPES.includes(contentType) && !target.contentType.includes(contentType)) throw htmlServed(target.url, `"${contentType}"`);
}

function htmlServed(url: string, what: string): AllowlistError {
  return new AllowlistError(
    'text-html',
    `${describe(url)} returned ${what}, not a plain-text list: set url to the raw list (one address per line), not the web page that shows it.`,
  );
}
