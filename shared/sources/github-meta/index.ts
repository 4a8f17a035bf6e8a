import { createHash } from 'node:crypto';
import { sortCidrs, tryParseCidr, type Cidr } from '../../ipset.js';
import { describe, fetchDocument, probeUrl, type FetchOptions, type ProbedUrl } from '../../net/http.js';
import { AllowlistError, toProblem, type Problem } from '../../problem.js';
import { credentialsFromEnv, redact, secretsOf, type GitHubCredentials } from '../../publish/github/auth.js';
import { tokenUrl } from '../../schema-kit.js';
import { closestName } from '../closest.js';
import type { GitHubMetaTarget } from '../registry.js';
import { stamp, type Reading, type Source, type SourceContext, type UnknownScope } from '../source.js';
import type { GitHubMetaEvidence } from './schema.js';

/** A list's non-addresses are each named in its warning, up to this many (a list of thousands is a new format, blinded whole). */
const NAMED = 50;

const CONTENT_TYPES = ['application/json'] as const;

/** Which document an address was read from, as a reviewer can check it. */
export interface GitHubMetaRevision {
  readonly revision: string;
  readonly url?: string;
  readonly etag?: string;
  /** Set when GitHub answered 304: the cached document was read, which it last sent in full at this time. */
  readonly unchangedSince?: string;
}

/** Reads the meta document and keeps the addresses of the selected keys. */
export const observeGitHubMeta: Source<GitHubMetaTarget> = async (target, context) => {
  const now = context.now();
  try {
    // The conditional headers go on top of the request's own (credentials where they go today); a 304 hands back the
    // cached copy, which is parsed and selected again: the keys or this release may have changed since.
    const fetched = await fetchMeta(target.url, context, (url, options) => fetchDocument(url, options, context));
    const revision: GitHubMetaRevision = {
      ...revisionOf(fetched.text),
      url: target.url,
      ...(fetched.etag ? { etag: fetched.etag } : {}),
      ...(fetched.unchangedSince === undefined ? {} : { unchangedSince: fetched.unchangedSince }),
    };
    return stamp(target, now, selectGitHubMeta(parseMeta(fetched.text), target.keys, { revision, previousFacts: context.previousFacts }));
  } catch (error) {
    return stamp(target, now, { status: 'error', entries: [], warnings: [], errors: [toProblem(error)] });
  }
};

/** allowlist-drift doctor: whether the meta endpoint answers JSON to the request a run sends (credentials included). */
export function probeGitHubMeta(target: GitHubMetaTarget, context: SourceContext): Promise<ProbedUrl> {
  return fetchMeta(target.url, context, (url, options) => probeUrl(url, options));
}

async function fetchMeta<T>(url: string, context: SourceContext, get: (url: string, options: FetchOptions) => Promise<T>): Promise<T> {
  const authorization = await authorizationFor(url, context);
  try {
    return await get(url, {
      timeoutMs: context.config.http.timeoutMs,
      maxBytes: context.config.http.maxBytes,
      contentTypes: CONTENT_TYPES,
      headers: { accept: 'application/vnd.github+json', ...(authorization ? { authorization } : {}) },
      ...(context.signal ? { signal: context.signal } : {}),
    });
  } catch (error) {
    const refused = error instanceof AllowlistError && error.code === 'http-status' && /\bHTTP 401\b/.test(error.message);
    if (refused)
      throw new AllowlistError(
        'github-meta-auth',
        `${describe(url)} answered HTTP 401: GitHub refused the credentials (GITHUB_TOKEN or the GitHub App settings).`,
      );
    throw error;
  }
}

/**
 * The Authorization header for a meta request, or undefined to ask without credentials. The config's GitHub
 * credentials go only to the origin of github.apiUrl and only over https (plain http to this machine aside, for
 * tests): a meta URL elsewhere is asked anonymously, never handed the token. No credentials set means anonymous too
 * (GitHub answers /meta without them, under a lower rate limit).
 */
export async function authorizationFor(url: string, context: Pick<SourceContext, 'config' | 'env'>): Promise<string | undefined> {
  const github = context.config.github;
  if (!github || new URL(url).origin !== new URL(github.apiUrl).origin || !tokenUrl.safeParse(url).success) return undefined;
  let credentials: GitHubCredentials;
  try {
    credentials = credentialsFromEnv(context.env);
  } catch {
    // Missing or broken credentials are the publisher's to report; the document is public.
    return undefined;
  }
  if (credentials.kind === 'token') return `Bearer ${credentials.token}`;
  return `Bearer ${await installationToken(credentials, github.apiUrl)}`;
}

async function installationToken(credentials: Extract<GitHubCredentials, { kind: 'app' }>, apiUrl: string): Promise<string> {
  // Loaded only for an App-authenticated meta target: Octokit is a noticeable share of a cold start.
  const [{ Octokit }, { createAppAuth }] = await Promise.all([import('@octokit/rest'), import('@octokit/auth-app')]);
  const octokit = new Octokit({
    authStrategy: createAppAuth,
    auth: { appId: credentials.appId, privateKey: credentials.privateKey, installationId: credentials.installationId },
    baseUrl: apiUrl.replace(/\/+$/, ''),
    userAgent: 'allowlist-drift',
  });
  try {
    const { token } = (await octokit.auth({ type: 'installation' })) as { token: string };
    return token;
  } catch (error) {
    throw new AllowlistError(
      'github-meta-auth',
      `Could not get a GitHub App installation token for the meta request: ${redact(toProblem(error).message, secretsOf(credentials))}`,
    );
  }
}

/** The document has no version of its own: its content hash names the revision. */
export function revisionOf(text: string): { revision: string } {
  return { revision: `sha256:${createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 16)}` };
}

/** The meta document as an object of keys; anything else (an error page, an array) is not the document. */
export function parseMeta(text: string): Readonly<Record<string, unknown>> {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new AllowlistError('github-meta-not-json', `The GitHub meta document is not JSON (${shorten((error as Error).message)}).`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new AllowlistError('github-meta-shape', 'The GitHub meta document is not a JSON object.');
  }
  // The one key GitHub's schema (api-overview) requires: a JSON object without it is some other document.
  if (typeof (document as Record<string, unknown>).verifiable_password_authentication !== 'boolean') {
    throw new AllowlistError(
      'github-meta-shape',
      'The GitHub meta document has no boolean "verifiable_password_authentication": it is not the meta document GitHub describes.',
    );
  }
  return document as Record<string, unknown>;
}

/** The keys that hold a list of addresses: a list of strings at least one of which is an address or CIDR. */
export function addressKeys(document: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(document)
    .filter((key) => {
      const value = document[key];
      return Array.isArray(value) && value.some((item) => typeof item === 'string' && tryParseCidr(item) !== undefined);
    })
    .sort();
}

export interface GitHubMetaSelection {
  readonly revision: GitHubMetaRevision;
  /** Facts of the last good check: `addressKeys` is the keys that listed addresses then. */
  readonly previousFacts?: Readonly<Record<string, string | number>> | undefined;
}

/**
 * Keeps the addresses of the selected keys ("*": every key that lists addresses). Every string of a selected list is
 * observed or named in a warning. A listed key the document no longer has, or one that is no longer a list of
 * addresses, is a warning naming the closest current keys and blinds that key (partial: its approved addresses
 * kept). With "*", a key that listed addresses at the last good check and is now empty or no list is blinded the
 * same way; a key gone from the document altogether counts as absence, and its addresses go after the configured misses.
 */
export function selectGitHubMeta(
  document: Readonly<Record<string, unknown>>,
  keys: '*' | readonly string[],
  { revision, previousFacts }: GitHubMetaSelection,
): Reading {
  const lists = addressKeys(document);
  const before = typeof previousFacts?.addressKeys === 'string' ? previousFacts.addressKeys.split(',').filter(Boolean) : [];
  const wanted =
    keys === '*' ? [...new Set([...lists, ...before.filter((key) => Object.hasOwn(document, key))])].sort() : [...new Set(keys)];
  const note = `(${revision.revision})`;
  const warnings: Problem[] = [];
  const unknownScopes: UnknownScope[] = [];
  const blind = (key: string, problem: Problem) => {
    warnings.push({ ...problem, message: `${problem.message}; its approved addresses are kept, neither missed nor removed.` });
    unknownScopes.push({ kind: 'github-meta', key });
  };
  const evidence = new Map<Cidr, GitHubMetaEvidence[]>();
  for (const key of wanted) {
    const value = Object.hasOwn(document, key) ? document[key] : undefined;
    if (value === undefined) {
      const closest = closestKeys(key, lists);
      blind(key, {
        code: 'github-meta-key-missing',
        message: `The GitHub meta document ${note} has no key "${key}"${closest.length > 0 ? `; the closest keys with addresses are ${closest.map((k) => `"${k}"`).join(', ')}` : ''}`,
      });
      continue;
    }
    if (!Array.isArray(value) || value.length === 0) {
      blind(key, {
        code: 'github-meta-key-shape',
        message: `"${key}" in the GitHub meta document ${note} is ${Array.isArray(value) ? 'an empty list' : `not a list (${value === null ? 'null' : typeof value})`}`,
      });
      continue;
    }
    const bad: string[] = [];
    const item: GitHubMetaEvidence = { kind: 'github-meta', key, ...revision };
    for (const text of value) {
      const cidr = typeof text === 'string' ? tryParseCidr(text) : undefined;
      if (cidr === undefined) bad.push(shorten(JSON.stringify(text) ?? String(text)));
      else evidence.set(cidr, [...(evidence.get(cidr) ?? []), item]);
    }
    if (bad.length > 0) {
      blind(key, {
        code: 'github-meta-bad-address',
        message: `"${key}" in the GitHub meta document ${note} has ${bad.length} entr${bad.length === 1 ? 'y' : 'ies'} that ${bad.length === 1 ? 'is' : 'are'} not an address or CIDR: ${bad.slice(0, NAMED).join(', ')}${bad.length > NAMED ? ` and ${bad.length - NAMED} more` : ''}`,
      });
    }
  }
  const seen = [...new Set([...lists.filter((key) => wanted.includes(key)), ...unknownScopes.map((scope) => scope.key!)])].sort();
  const facts = { addressKeys: seen.join(',') };
  if (evidence.size === 0) {
    const errors = [
      {
        code: 'github-meta-selection-empty',
        message: `The GitHub meta document ${note} lists no usable addresses under ${keys === '*' ? 'any key' : wanted.map((k) => `"${k}"`).join(', ')}; nothing is changed.`,
      },
    ];
    return { status: 'error', entries: [], warnings, errors };
  }
  const entries = sortCidrs(evidence.keys()).map((cidr) => ({ cidr, evidence: evidence.get(cidr) ?? [] }));
  if (unknownScopes.length === 0) return { status: 'ok', entries, warnings, errors: [], facts };
  return { status: 'partial', entries, warnings, errors: [], facts, unknownScopes };
}

/** Up to three keys closest to a vanished one, the closest first. */
function closestKeys(key: string, keys: readonly string[]): string[] {
  const out: string[] = [];
  let rest = [...keys];
  while (out.length < 3 && rest.length > 0) {
    const next = closestName(key, rest)!;
    out.push(next);
    rest = rest.filter((other) => other !== next);
  }
  return out;
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
