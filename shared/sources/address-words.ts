import { tryParseCidr, type Cidr } from '../ipset.js';

/**
 * The word level shared by the readers of upstream pages (the CAS page, the ODC page): how text splits into words,
 * which words are addresses, and which only look like one. Both readers owe every address-like word an outcome
 * (observed, or named in a warning), so they must agree on what such a word is.
 */

/** A word of text with the source line it stands on. */
export interface Token {
  readonly text: string;
  readonly line: number;
}

/** Words: runs of the characters addresses, CIDRs and their near misses are made of; dashes stand alone. */
const TOKEN = /[0-9A-Za-z.:/%-]+|[\u2013\u2014]/g;
/**
 * Text that means to be an address: three dotted decimal groups, or a hex group with two colons after it, or a
 * double colon (but not DocFX's ":::" directive fences).
 */
const IPV4_HINT = /\d{1,3}\.\d{1,3}\.\d{1,3}/;
const IPV6_HINT = /[0-9a-f]{1,4}:[0-9a-f]{0,4}:|(?<!:)::(?!:)/i;
const ADDRESS_CHARACTERS = /^(?=.*[.:])[0-9a-f:.]+(?:\/\d{1,3})?[.:]*$/i;

/** The words of a text node, each with its source line (the node's text keeps the page's line breaks). */
export function tokensOf(value: string, firstLine: number): Token[] {
  const found: Token[] = [];
  value.split('\n').forEach((text, index) => {
    for (const match of text.matchAll(TOKEN)) found.push({ text: match[0], line: firstLine + index });
  });
  return found;
}

/** The address a word is, allowing the full stop or colon of the sentence around it. */
export function addressOf(text: string): Cidr | undefined {
  // Most words are plainly not addresses; parsing them would cost an exception each.
  if (!ADDRESS_CHARACTERS.test(text)) return undefined;
  const cidr = tryParseCidr(text);
  if (cidr !== undefined) return cidr;
  const bare = text.replace(/[.:]+$/, '');
  return bare !== text && bare !== '' ? tryParseCidr(bare) : undefined;
}

/** An address or CIDR, or text that looks like one: every such word must be observed or named in an issue. */
export function looksLikeAddress(text: string): boolean {
  return IPV4_HINT.test(text) || IPV6_HINT.test(text) || addressOf(text) !== undefined;
}

/** The address-like words of a text, as the page readers split it (for tests that count what a page holds). */
export function addressLikeWords(text: string): string[] {
  return tokensOf(text, 0)
    .map((token) => token.text)
    .filter(looksLikeAddress);
}

/**
 * What a reader took from a page, word by word, so that the words it did not take can be named afterwards: the
 * accounting that lets no address-like word be lost between the markdown parser and a reader.
 */
export class AddressLedger {
  private readonly consumed = new Map<string, number>();

  consume(tokens: readonly Token[]): void {
    for (const token of tokens) {
      const key = `${token.line}\0${token.text}`;
      this.consumed.set(key, (this.consumed.get(key) ?? 0) + 1);
    }
  }

  /** The address-like words of each source line that were not consumed, by line number (1-based). */
  unread(lines: readonly string[]): Map<number, string[]> {
    const missed = new Map<number, string[]>();
    lines.forEach((text, index) => {
      const line = index + 1;
      for (const token of tokensOf(text, line)) {
        if (!looksLikeAddress(token.text)) continue;
        const key = `${line}\0${token.text}`;
        const count = this.consumed.get(key) ?? 0;
        if (count > 0) this.consumed.set(key, count - 1);
        else missed.set(line, [...(missed.get(line) ?? []), token.text]);
      }
    });
    return missed;
  }
}
