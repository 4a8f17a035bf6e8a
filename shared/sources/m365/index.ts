import { createHash, randomUUID } from 'node:crypto';
import type { CachedDocument } from '../../net/document-cache.js';
import { fetchText, probeUrl, type FetchOptions, type ProbedUrl } from '../../net/http.js';
import { AllowlistError, toProblem, type Problem } from '../../problem.js';
import type { M365Target } from '../registry.js';
import { stamp, type Source, type SourceContext } from '../source.js';
import { parseEndpoints, parseVersion, selectM365 } from './endpoints.js';

/** Microsoft asks clients to check the version at most once an hour. */
const VERSION_INTERVAL_MS = 3_600_000;
const CONTENT_TYPES = ['application/json'] as const;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * What a target keeps between runs: its ClientRequestId (one per client, as the service asks), which endpoints URL
 * the rest describes, the version of the last endpoints document it read in full there, when that version was last
 * confirmed, and the document's hash, which says whether the shared cache still holds that very document.
 */
export interface M365Facts {
  readonly clientRequestId: string;
  /** The endpoints URL without ClientRequestId: another instance or service has versions of its own. */
  readonly endpoints?: string;
  readonly version?: string;
  readonly versionCheckedAt?: string;
  readonly documentHash?: string;
}

/** The web service's URLs for a target; `cacheKey` is the endpoints URL without ClientRequestId, shared by every config. */
export function m365Urls(target: Pick<M365Target, 'url' | 'instance'>, clientRequestId: string) {
  const base = target.url.replace(/\/+$/, '');
  const instance = encodeURIComponent(target.instance);
  const id = `ClientRequestId=${encodeURIComponent(clientRequestId)}`;
  return {
    version: `${base}/version/${instance}?${id}`,
    endpoints: `${base}/endpoints/${instance}?${id}`,
    cacheKey: `${base}/endpoints/${instance}`,
  };
}

/**
 * The facts a previous run kept for the target's current endpoints URL; anything malformed is dropped (a new
 * ClientRequestId, a full read), and so is what was read from another URL or instance, except the ClientRequestId.
 */
export function m365Facts(
  target: Pick<M365Target, 'url' | 'instance'>,
  previous: Readonly<Record<string, string | number>> | undefined,
): M365Facts {
  const text = (name: string) => (typeof previous?.[name] === 'string' ? (previous[name] as string) : undefined);
  const given = text('clientRequestId');
  const clientRequestId = given && GUID.test(given) ? given : randomUUID();
  const endpoints = m365Urls(target, clientRequestId).cacheKey;
  if (text('endpoints') !== endpoints) return { clientRequestId, endpoints };
  const version = text('version');
  const versionCheckedAt = text('versionCheckedAt');
  const documentHash = text('documentHash');
  return {
    clientRequestId,
    endpoints,
    ...(version && /^\d{10}$/.test(version) ? { version } : {}),
    ...(versionCheckedAt && Number.isFinite(Date.parse(versionCheckedAt)) ? { versionCheckedAt } : {}),
    ...(documentHash ? { documentHash } : {}),
  };
}

/** The endpoints document a run reads, and whether it came from the service (to be cached once it proves complete). */
interface Read {
  readonly text: string;
  readonly facts: M365Facts;
  readonly downloaded?: { readonly contentType: string; readonly etag?: string; readonly lastModified?: string };
  readonly warnings: readonly Problem[];
}

/**
 * Microsoft's guidance, kept: the version method is asked at most once an hour, and the endpoints method only when
 * the version moved since the last complete read. Between, the last complete document is read from the document
 * cache; when the cache does not hold it (no cache, a lost blob, another config's newer copy), it is downloaded.
 */
export const observeM365: Source<M365Target> = async (target, context) => {
  const now = context.now();
  try {
    const read = await readEndpoints(target, context, now);
    const urls = m365Urls(target, read.facts.clientRequestId);
    const reading = selectM365(parseEndpoints(read.text), target, {
      instance: target.instance,
      version: read.facts.version!,
      url: urls.cacheKey,
    });
    const warnings = [...read.warnings, ...reading.warnings];
    // Only a document every set of which could be read is reused: a broken one is asked for again next run.
    const complete = reading.status !== 'error' && !reading.warnings.some((warning) => warning.code === 'm365-bad-address');
    if (read.downloaded && complete && context.documents) {
      const document: CachedDocument = { url: urls.cacheKey, text: read.text, validatedAt: now.toISOString(), ...read.downloaded };
      await context.documents.put(document).catch((error: unknown) => warnings.push(cacheProblem('kept', error)));
    }
    return stamp(target, now, { ...reading, warnings, facts: { ...read.facts } });
  } catch (error) {
    return stamp(target, now, { status: 'error', entries: [], warnings: [], errors: [toProblem(error)] });
  }
};

async function readEndpoints(target: M365Target, context: SourceContext, now: Date): Promise<Read> {
  const previous = m365Facts(target, context.previousFacts);
  const urls = m365Urls(target, previous.clientRequestId);
  const warnings: Problem[] = [];
  const cached = async (facts: M365Facts): Promise<string | undefined> => {
    if (!context.documents || !facts.documentHash) return undefined;
    const document = await context.documents.get(urls.cacheKey).catch((error: unknown) => {
      warnings.push(cacheProblem('read', error));
      return undefined;
    });
    return document && hashOf(document.text) === facts.documentHash ? document.text : undefined;
  };

  const checkedAt = previous.versionCheckedAt ? Date.parse(previous.versionCheckedAt) : NaN;
  if (previous.version && now.getTime() - checkedAt < VERSION_INTERVAL_MS) {
    const text = await cached(previous);
    if (text !== undefined) return { text, facts: previous, warnings };
  }
  const latest = parseVersion((await fetchText(urls.version, fetchOptions(context))).text, target.instance);
  if (previous.version && latest < previous.version) {
    throw new AllowlistError(
      'm365-stale',
      `The Microsoft 365 web service reports version ${latest} for ${target.instance}, older than the ${previous.version} read before (a stale cache or mirror); nothing is applied or removed.`,
    );
  }
  const confirmed = { ...previous, version: latest, versionCheckedAt: now.toISOString() };
  if (latest === previous.version) {
    const text = await cached(previous);
    if (text !== undefined) return { text, facts: confirmed, warnings };
  }
  const fetched = await fetchText(urls.endpoints, fetchOptions(context));
  return {
    text: fetched.text,
    facts: { ...confirmed, documentHash: hashOf(fetched.text) },
    downloaded: {
      contentType: fetched.contentType,
      ...(fetched.etag ? { etag: fetched.etag } : {}),
      ...(fetched.lastModified ? { lastModified: fetched.lastModified } : {}),
    },
    warnings,
  };
}

/** allowlist-drift doctor: whether the version method answers JSON, without keeping anything. */
export async function probeM365(target: M365Target, context: SourceContext): Promise<ProbedUrl> {
  return probeUrl(m365Urls(target, m365Facts(target, context.previousFacts).clientRequestId).version, fetchOptions(context));
}

function hashOf(text: string): string {
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 32)}`;
}

function cacheProblem(what: 'read' | 'kept', error: unknown): Problem {
  const then = what === 'read' ? 'it is downloaded instead' : 'the next run downloads it again';
  return {
    code: 'document-cache',
    message: `The Microsoft 365 endpoints document could not be ${what} in the document cache (${toProblem(error).message}); ${then}.`,
  };
}

function fetchOptions(context: SourceContext): FetchOptions {
  return {
    timeoutMs: context.config.http.timeoutMs,
    maxBytes: context.config.http.maxBytes,
    contentTypes: CONTENT_TYPES,
    ...(context.signal ? { signal: context.signal } : {}),
  };
}
