/**
 * The one place where text from outside (config values, upstream pages and files, GitHub itself) is made inert
 * before it is written to GitHub: it may be read there, but it cannot mention anyone, link anywhere, reference an
 * issue, tick a task box or pass for one of the tool's own markers. The links the tool builds itself, to the
 * documents it read, are made by `markdownLink` from a URL the config gave.
 */

/** Upstream strings are cut to this many characters, so one odd heading cannot fill the body. */
const MAX_FIELD_CHARS = 300;

/**
 * Makes text from outside (hostnames, page headings, messages) inert in a GitHub markdown body or table cell:
 * one line, no markdown or HTML syntax, no @mention, issue reference or bare link that GitHub would act on.
 */
export function escapeMarkdown(text: string, maxChars = MAX_FIELD_CHARS): string {
  // A PR body names the same few words (a tag, a section, a source) once per address, thousands of times: each
  // distinct text is escaped once. The function is pure, so a remembered answer is the answer.
  if (text.length > MAX_REMEMBERED_CHARS) return escapeOnce(text, maxChars);
  const key = `${maxChars}\u0000${text}`;
  const known = escaped.get(key);
  if (known !== undefined) return known;
  const result = escapeOnce(text, maxChars);
  if (escaped.size >= MAX_REMEMBERED) escaped.clear();
  escaped.set(key, result);
  return result;
}

/** Distinct texts remembered by escapeMarkdown, of at most so many characters: a few MB at most, then it starts afresh. */
const MAX_REMEMBERED = 4_096;
const MAX_REMEMBERED_CHARS = 512;
const escaped = new Map<string, string>();

function escapeOnce(text: string, maxChars: number): string {
  const short = oneShortLine(text, maxChars);
  return (
    short
      .replace(/[\\`*_{}[\]()#!|~&$^]/g, '\\$&')
      // Text that may open a line or a list item must not open another one ("- x", "+ x", "1. x").
      .replace(/^[-+](?=[\s-]|$)/, '\\$&')
      .replace(/^(\d{1,9})([.)])(?=\s|$)/, '$1\\$2')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      // A zero-width space keeps the text readable while breaking GitHub's mention, reference and autolink patterns.
      .replace(/@/g, '@\u200b')
      .replace(/#(?=\d)/g, '#\u200b')
      .replace(/:\/\//g, ':\u200b//')
      .replace(/\bwww\./gi, (match) => `${match.slice(0, 3)}\u200b.`)
      // GitHub links "GH-123" to issue 123 like "#123".
      .replace(/\bGH-(?=\d)/gi, (match) => `${match}\u200b`)
  );
}

/**
 * Text shown verbatim as inline code (a branch or config name): inside a code span nothing is a mention, link or
 * marker, so only the span itself must hold. It is one line, and its fence is longer than any run of backticks in
 * the text, so no backtick in it can close the span early.
 */
export function codeSpan(text: string, maxChars = MAX_FIELD_CHARS): string {
  const short = oneShortLine(text, maxChars);
  const longest = Math.max(0, ...[...short.matchAll(/`+/g)].map((match) => match[0].length));
  const fence = '`'.repeat(longest + 1);
  // A backtick next to the fence would lengthen it: one space each side keeps them apart, and the reader strips it.
  const pad = short === '' || short.startsWith('`') || short.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${short}${pad}${fence}`;
}

/** Control, format (zero-width) and line-separating characters become spaces, runs of space one, and long text is cut. */
function oneShortLine(text: string, maxChars: number): string {
  const oneLine = text
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const characters = [...oneLine];
  return characters.length > maxChars ? `${characters.slice(0, maxChars - 1).join('')}…` : oneLine;
}

/**
 * A markdown link to a URL a source recorded from the config (the CAS page, the service-tags file). Only a plain
 * http(s) URL becomes a link, percent-encoded so it cannot end the link early; anything else is shown as text.
 */
export function markdownLink(url: string, text: string): string {
  const label = escapeMarkdown(text);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return label;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return label;
  if (parsed.username !== '' || parsed.password !== '') return label;
  const href = parsed.href.replace(
    /[()<>[\]\\`'" ]/g,
    (character) => `%${character.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
  return `[${label}](${href})`;
}
