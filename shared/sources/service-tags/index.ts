import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { z } from 'zod';
import type { ServiceTagsTarget } from '../../config.js';
import { parseCidr, sortCidrs, type Cidr } from '../../ipset.js';
import { describe, fetchDocument, fetchText, probeUrl, type FetchOptions, type ProbedUrl } from '../../net/http.js';
import { AllowlistError, toProblem, type Problem } from '../../problem.js';
import { stamp, type Observation, type Source, type SourceContext } from '../source.js';
import type { ServiceTagEvidence } from './schema.js';

/** Microsoft serves the weekly file as octet-stream; mirrors use JSON or plain text. */
const FILE_CONTENT_TYPES = ['application/json', 'application/octet-stream', 'text/plain'] as const;
const DEFAULT_ARM_SCOPE = 'https://management.azure.com/.default';
/** Sovereign clouds have their own ARM audience; anything else (a proxy, a test server) keeps the public one. */
const SOVEREIGN_ARM_HOSTS = new Set(['management.usgovcloudapi.net', 'management.chinacloudapi.cn']);
/** The list API answers in one page today; the bound only stops a nextLink loop. */
const MAX_ARM_PAGES = 20;
/** Microsoft publishes the file weekly; three weeks without a newer one means the URL no longer follows it. */
const AGEING_DAYS = 21;
const DAY_MS = 86_400_000;
const DOWNLOAD_PAGE = 'https://www.microsoft.com/download/details.aspx?id=56519';

/** One selected tag as the upstream wrote it; prefixes are still untrusted text. */
export interface SelectedTag {
  readonly name: string;
  readonly changeNumber: number;
  readonly prefixes: readonly string[];
}

/** What a document holds for the wanted tags, without the rest of it. */
export interface ServiceTagsExtract {
  readonly fileChangeNumber: number;
  readonly cloud: string;
  readonly tags: readonly SelectedTag[];
  /** ARM only: the next page of the same listing. */
  readonly nextLink?: string;
}

/** The weekly file has numbers here, the ARM API has digit strings. */
const changeNumber = z.union([
  z.int().nonnegative(),
  z
    .string()
    .regex(/^\d{1,15}$/, 'must be a whole number')
    .transform(Number),
]);

const documentShape = z.looseObject({
  changeNumber,
  cloud: z.string(),
  // Entries are checked while scanning for names: a zod object schema over ~3,000 entries costs more
  // than JSON.parse itself on a cold start, and only the selected entries are used.
  values: z.array(z.unknown()),
  nextLink: z.string().nullish(),
});

/** A later page of the ARM listing: its values and the next link; the top-level fields belong to the first page. */
const laterPageShape = documentShape.partial({ changeNumber: true, cloud: true });

function nameOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { name } = value as { name?: unknown };
  return typeof name === 'string' && name.length > 0 ? name : undefined;
}

const tagShape = z.looseObject({
  properties: z.looseObject({
    changeNumber,
    region: z.string(),
    addressPrefixes: z.array(z.string()),
  }),
});

/**
 * Parses a ServiceTags document and returns only the wanted tags' data (the parsed document itself is
 * kept until another one is parsed; see parsedDocument). Only the tags we use get the full shape check:
 * an odd entry elsewhere in Microsoft's file is not our business.
 */
export function extractServiceTags(text: string, wanted: readonly string[]): ServiceTagsExtract {
  const document = parsedDocument(text);
  const nextLink = document.nextLink;
  return {
    fileChangeNumber: document.changeNumber,
    cloud: document.cloud,
    tags: selectTags(document.values, wanted),
    ...(nextLink ? { nextLink } : {}),
  };
}

/**
 * The last document parsed, by its text: a worker checking many configs reads the same 4 MB file for each, and
 * parsing it was a large part of each check. Only read, never changed: selectTags validates the wanted entries into
 * new arrays. One document is kept, and only one of at most MAX_REMEMBERED_CHARS.
 */
let lastParsed: { readonly text: string; readonly document: z.infer<typeof documentShape> } | undefined;
const MAX_REMEMBERED_CHARS = 16 * 1024 * 1024;

function parsedDocument(text: string): z.infer<typeof documentShape> {
  if (lastParsed?.text === text) return lastParsed.document;
  const parsed = documentShape.safeParse(parseJson(text));
  if (!parsed.success) throw shapeError(parsed.error);
  lastParsed = text.length <= MAX_REMEMBERED_CHARS ? { text, document: parsed.data } : undefined;
  return parsed.data;
}

/** A later ARM page: only its values and next link are read, so one without the top-level fields is still a page. */
function extractLaterPage(text: string, wanted: readonly string[]): Pick<ServiceTagsExtract, 'tags' | 'nextLink'> {
  const parsed = laterPageShape.safeParse(parseJson(text));
  if (!parsed.success) throw shapeError(parsed.error);
  const nextLink = parsed.data.nextLink;
  return { tags: selectTags(parsed.data.values, wanted), ...(nextLink ? { nextLink } : {}) };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AllowlistError('service-tags-not-json', `The service tags document is not JSON (${shorten((error as Error).message)}).`);
  }
}

function selectTags(values: readonly unknown[], wanted: readonly string[]): SelectedTag[] {
  const wantedNames = new Set(wanted);
  const tags: SelectedTag[] = [];
  values.forEach((value, index) => {
    const name = nameOf(value);
    if (name === undefined)
      throw new AllowlistError(
        'service-tags-shape',
        `The service tags document does not have the expected shape: values.${index} has no "name".`,
      );
    if (!wantedNames.has(name)) return;
    const tag = tagShape.safeParse(value);
    if (!tag.success) throw shapeError(tag.error, ['values', index]);
    tags.push({ name, changeNumber: tag.data.properties.changeNumber, prefixes: tag.data.properties.addressPrefixes });
  });
  return mergeRepeated(tags);
}

/** Where a document came from, for the stale rule and the ageing warnings. */
export interface ServiceTagsReading {
  /**
   * "file", or "arm:<location>": the ARM API counts changeNumber differently from the file (and may differ by location),
   * so change numbers are compared only within one source.
   */
  readonly source: string;
  readonly now: Date;
  /** The date in a file URL's name ("ServiceTags_Public_20251107.json" -> "2025-11-07"). */
  readonly fileDate?: string;
}

export function readingOf(target: Pick<ServiceTagsTarget, 'url' | 'arm'>, now: Date): ServiceTagsReading {
  if (target.arm) return { source: `arm:${target.arm.location}`, now };
  const dated = /(\d{4})(\d{2})(\d{2})\.json$/i.exec(target.url ? new URL(target.url).pathname : '');
  return { source: 'file', now, ...(dated ? { fileDate: `${dated[1]}-${dated[2]}-${dated[3]}` } : {}) };
}

export const observeServiceTags: Source<ServiceTagsTarget> = async (target, context) => {
  // Stamped with the time the check started, which the file's age is judged against.
  const now = context.now();
  try {
    const { extract, unchangedSince } = await readSelectedTags(target, context);
    return stamp(
      target,
      now,
      summariseServiceTags(target.tags, extract, {
        ...(context.previousFacts ? { previousFacts: context.previousFacts } : {}),
        reading: readingOf(target, now),
        from: { ...origin(target), ...(unchangedSince === undefined ? {} : { unchangedSince }) },
      }),
    );
  } catch (error) {
    return stamp(target, now, { status: 'error', entries: [], warnings: [], errors: [toProblem(error)] });
  }
};

type Summary = Pick<Observation, 'status' | 'entries' | 'warnings' | 'errors' | 'facts'>;

/**
 * Turns the selected tags into entries. A missing or unusable tag never reads as "its addresses
 * are gone": the observation is then partial (those entries stay) or, with nothing usable, an error.
 */
export interface SummaryContext {
  /** What the last good check read, to refuse an older file and to keep the date the change number first showed. */
  readonly previousFacts?: Readonly<Record<string, string | number>>;
  readonly reading?: ServiceTagsReading;
  readonly from?: Pick<ServiceTagEvidence, 'url' | 'armLocation' | 'unchangedSince'>;
}

export function summariseServiceTags(
  wanted: readonly string[],
  extract: ServiceTagsExtract,
  { previousFacts, reading, from = {} }: SummaryContext = {},
): Summary {
  const { fileChangeNumber } = extract;
  const previous = Number(previousFacts?.fileChangeNumber);
  // A row the previous release wrote names no source; its number may come from the other one, so it is not compared.
  const sameSource = reading === undefined || previousFacts?.source === reading.source;
  if (sameSource && Number.isFinite(previous) && previous > fileChangeNumber) {
    throw new AllowlistError(
      'service-tags-stale',
      `The service tags document has changeNumber ${fileChangeNumber}, older than the ${previous} seen before from the same source (a stale mirror or cache); it is not used.`,
    );
  }
  const since =
    sameSource && previous === fileChangeNumber && typeof previousFacts?.changeNumberSince === 'string'
      ? previousFacts.changeNumberSince
      : reading?.now.toISOString();
  const facts = {
    fileChangeNumber,
    ...(reading ? { source: reading.source } : {}),
    ...(since === undefined ? {} : { changeNumberSince: since }),
  };
  const arm = reading?.source.startsWith('arm:') === true;

  const found = new Map(extract.tags.map((tag) => [tag.name, tag]));
  const names = [...new Set(wanted)];
  const missing = names.filter((name) => !found.has(name));
  if (missing.length === names.length) {
    throw new AllowlistError(
      'service-tag-missing',
      `None of the configured service tags is in the ${extract.cloud} document: ${quoteList(missing)}.${armSubsetNote(missing, arm)}`,
    );
  }
  const warnings: Problem[] = [
    ...missing.map((name) => ({
      code: 'service-tag-missing',
      message: `Service tag "${name}" is not in the ${extract.cloud} document (changeNumber ${fileChangeNumber}); its entries are kept as they were.${armSubsetNote([name], arm)}`,
    })),
    ...ageingWarnings(fileChangeNumber, since, reading),
  ];

  const errors: Problem[] = [];
  const evidence = new Map<Cidr, ServiceTagEvidence[]>();
  for (const tag of names.flatMap((name) => found.get(name) ?? [])) {
    const cidrs = parsePrefixes(tag);
    if ('problem' in cidrs) {
      errors.push(cidrs.problem);
      continue;
    }
    const item: ServiceTagEvidence = { kind: 'service-tag', tag: tag.name, tagChangeNumber: tag.changeNumber, fileChangeNumber, ...from };
    for (const cidr of cidrs) evidence.set(cidr, [...(evidence.get(cidr) ?? []), item]);
  }

  if (evidence.size === 0) return { status: 'error', entries: [], warnings, errors };
  const entries = sortCidrs(evidence.keys()).map((cidr) => ({ cidr, evidence: evidence.get(cidr) ?? [] }));
  const complete = errors.length === 0 && missing.length === 0;
  return { status: complete ? 'ok' : 'partial', entries, warnings, errors, facts };
}

/** The ARM API returns a subset of the weekly file; regional tags ("Name.Region") are the ones most often left out. */
function armSubsetNote(missing: readonly string[], arm: boolean): string {
  const regional = missing.filter((name) => name.includes('.'));
  if (!arm || regional.length === 0) return '';
  return (
    ` The Service Tags API returns a subset of the weekly ServiceTags file: regional tags such as "${regional[0]}" may be only in the file; ` +
    'read them from a target with "url" set to the current file.'
  );
}

/**
 * A file URL is dated and never changes: it keeps answering the same data until Microsoft removes it. Three weeks
 * without a newer file (by the date in its name) or a new changeNumber means the target no longer follows changes.
 */
function ageingWarnings(fileChangeNumber: number, since: string | undefined, reading: ServiceTagsReading | undefined): Problem[] {
  if (reading?.source !== 'file') return [];
  const moveOn = `Set "url" to the current file (the download link on ${DOWNLOAD_PAGE}), or use "arm", which is always current.`;
  const days = (date: string) => Math.floor((reading.now.getTime() - Date.parse(date)) / DAY_MS);
  if (reading.fileDate !== undefined && days(reading.fileDate) > AGEING_DAYS) {
    return [
      {
        code: 'service-tags-file-old',
        message: `The ServiceTags file is dated ${reading.fileDate} (by its name), ${days(reading.fileDate)} days ago: Microsoft publishes a new file under a new URL every week, so this one no longer follows changes. ${moveOn}`,
      },
    ];
  }
  if (since !== undefined && days(since) > AGEING_DAYS) {
    return [
      {
        code: 'service-tags-not-moving',
        message: `The ServiceTags file has had changeNumber ${fileChangeNumber} since ${since.slice(0, 10)}, more than three weeks: the URL may point at an old file that no longer follows changes. ${moveOn}`,
      },
    ];
  }
  return [];
}

/** Unique canonical CIDRs of one tag; any bad prefix makes the whole tag unusable rather than silently shorter. */
function parsePrefixes(tag: SelectedTag): Set<Cidr> | { problem: Problem } {
  if (tag.prefixes.length === 0) {
    return {
      problem: {
        code: 'service-tag-empty',
        message: `Service tag "${tag.name}" lists no address prefixes; its entries are kept as they were.`,
      },
    };
  }
  const cidrs = new Set<Cidr>();
  const bad: string[] = [];
  for (const prefix of tag.prefixes) {
    try {
      cidrs.add(parseCidr(prefix));
    } catch (error) {
      bad.push((error as Error).message);
    }
  }
  if (bad.length === 0) return cidrs;
  const shown = bad.slice(0, 3).join('; ');
  const more = bad.length > 3 ? ` and ${bad.length - 3} more` : '';
  return {
    problem: {
      code: 'service-tags-bad-prefix',
      message: `Service tag "${tag.name}" has ${bad.length} invalid address prefix(es): ${shown}${more}; the tag is not used.`,
    },
  };
}

/**
 * The file is downloaded only when it changed (fetchDocument). The ARM API is read in full every time: it answers
 * per call, in pages, and documents no ETag or Last-Modified for the list.
 */
async function readSelectedTags(
  target: ServiceTagsTarget,
  context: SourceContext,
): Promise<{ extract: ServiceTagsExtract; unchangedSince?: string }> {
  if (target.arm) return { extract: await readFromArm(target.arm, target.tags, context) };
  if (target.url) {
    const { text, unchangedSince } = await fetchDocument(target.url, fetchOptions(context, {}), context);
    return { extract: extractServiceTags(text, target.tags), ...(unchangedSince === undefined ? {} : { unchangedSince }) };
  }
  throw new AllowlistError('service-tags-no-source', 'Set either "url" or "arm" on a service-tags target.');
}

type ArmSettings = NonNullable<ServiceTagsTarget['arm']>;

/** Where the evidence says the document came from: the file's URL, or the ARM location (never the subscription). */
function origin(target: ServiceTagsTarget): Pick<ServiceTagEvidence, 'url' | 'armLocation'> {
  if (target.arm) return { armLocation: target.arm.location };
  return target.url ? { url: target.url } : {};
}

/** "Service Tags - List": the same values[] as the weekly file, current as of the call. */
async function readFromArm(arm: ArmSettings, wanted: readonly string[], context: SourceContext): Promise<ServiceTagsExtract> {
  const base = arm.baseUrl.replace(/\/+$/, '');
  const first = armListUrl(arm);
  const token = await armToken(arm.baseUrl, context);
  const origin = new URL(base).origin;
  const pages: Array<Pick<ServiceTagsExtract, 'tags' | 'nextLink'>> = [];
  let head: ServiceTagsExtract | undefined;
  for (let url: string | undefined = first; url !== undefined;) {
    if (pages.length === MAX_ARM_PAGES)
      throw new AllowlistError('arm-paging', `The Service Tags API returned more than ${MAX_ARM_PAGES} pages; refusing to follow further.`);
    if (new URL(url).origin !== origin) {
      throw new AllowlistError(
        'arm-paging',
        `The Service Tags API pointed its next page at another host (${new URL(url).origin}); the token is not sent there.`,
      );
    }
    const text = await fetchArmPage(url, token, context);
    const page = head === undefined ? (head = extractServiceTags(text, wanted)) : extractLaterPage(text, wanted);
    pages.push(page);
    url = page.nextLink;
  }
  if (!head) throw new AllowlistError('arm-paging', 'The Service Tags API returned no page.');
  return { fileChangeNumber: head.fileChangeNumber, cloud: head.cloud, tags: mergeRepeated(pages.flatMap((page) => page.tags)) };
}

/** The first page of "Service Tags - List" for the configured subscription and location. */
function armListUrl(arm: ArmSettings): string {
  return (
    `${arm.baseUrl.replace(/\/+$/, '')}/subscriptions/${encodeURIComponent(arm.subscriptionId)}/providers/Microsoft.Network/locations/` +
    `${encodeURIComponent(arm.location)}/serviceTags?api-version=${encodeURIComponent(arm.apiVersion)}`
  );
}

/**
 * allowlist-drift doctor: whether the target's source answers as a run needs, without reading the document. For a
 * file, its status and media type; for ARM, a token from the credential, then the list API's answer to it (a 401 or
 * 403 is `arm-auth`, as in a run).
 */
export async function probeServiceTags(target: ServiceTagsTarget, context: SourceContext): Promise<ProbedUrl> {
  if (target.arm) return probeArm(target.arm, context);
  if (target.url) return probeUrl(target.url, fetchOptions(context, {}));
  throw new AllowlistError('service-tags-no-source', 'Set either "url" or "arm" on a service-tags target.');
}

async function probeArm(arm: ArmSettings, context: SourceContext): Promise<ProbedUrl> {
  const url = armListUrl(arm);
  const token = await armToken(arm.baseUrl, context);
  try {
    return await probeUrl(url, fetchOptions(context, { authorization: `Bearer ${token}` }));
  } catch (error) {
    const refused = error instanceof AllowlistError && error.code === 'http-status' ? /\bHTTP (40[13])\b/.exec(error.message) : null;
    if (refused)
      throw new AllowlistError(
        'arm-auth',
        `${describe(url)} answered HTTP ${refused[1]}: the identity needs read access to the subscription (Reader).`,
      );
    throw error;
  }
}

/** A tag listed twice (within a document or across pages) is one tag with both prefix lists. */
function mergeRepeated(tags: readonly SelectedTag[]): SelectedTag[] {
  const byName = new Map<string, SelectedTag>();
  for (const tag of tags) {
    const known = byName.get(tag.name);
    byName.set(
      tag.name,
      known
        ? { name: tag.name, changeNumber: Math.max(known.changeNumber, tag.changeNumber), prefixes: [...known.prefixes, ...tag.prefixes] }
        : tag,
    );
  }
  return [...byName.values()];
}

async function fetchArmPage(url: string, token: string, context: SourceContext): Promise<string> {
  try {
    const { text } = await fetchText(url, fetchOptions(context, { authorization: `Bearer ${token}` }));
    return text;
  } catch (error) {
    // fetchText reports statuses only in its message; 401/403 need their own code because the fix is a role assignment.
    const refused = error instanceof AllowlistError && error.code === 'http-status' ? /\bHTTP (40[13])\b/.exec(error.message) : null;
    if (refused) {
      throw new AllowlistError(
        'arm-auth',
        `${describe(url)} answered HTTP ${refused[1]}: the identity needs read access to the subscription (Reader).`,
      );
    }
    throw error;
  }
}

let defaultCredential: Promise<TokenCredential> | undefined;

/** @azure/identity is loaded only when ARM is configured, keeping it out of every other cold start. */
async function armToken(baseUrl: string, context: SourceContext): Promise<string> {
  const scope = armScope(baseUrl);
  let token: AccessToken | null;
  try {
    defaultCredential ??= import('@azure/identity').then(({ DefaultAzureCredential }) => new DefaultAzureCredential());
    const credential = context.armCredential ?? (await defaultCredential);
    token = await credential.getToken(scope, context.signal ? { abortSignal: context.signal } : {});
  } catch (error) {
    throw new AllowlistError(
      'arm-auth',
      `Could not get a token for ${scope}: ${shorten(firstLine((error as Error).message ?? String(error)))}`,
    );
  }
  if (!token?.token) throw new AllowlistError('arm-auth', `The credential returned no token for ${scope}.`);
  return token.token;
}

export function armScope(baseUrl: string): string {
  const host = new URL(baseUrl).hostname.toLowerCase();
  return SOVEREIGN_ARM_HOSTS.has(host) ? `https://${host}/.default` : DEFAULT_ARM_SCOPE;
}

function fetchOptions(context: SourceContext, headers: Record<string, string>): FetchOptions {
  return {
    timeoutMs: context.config.http.timeoutMs,
    maxBytes: context.config.http.maxBytes,
    contentTypes: FILE_CONTENT_TYPES,
    headers,
    ...(context.signal ? { signal: context.signal } : {}),
  };
}

function shapeError(error: z.ZodError, at: readonly (string | number)[] = []): AllowlistError {
  const issues = error.issues.slice(0, 3).map((issue) => `${[...at, ...issue.path].map(String).join('.') || '(root)'}: ${issue.message}`);
  return new AllowlistError('service-tags-shape', `The service tags document does not have the expected shape: ${issues.join('; ')}.`);
}

function quoteList(names: readonly string[]): string {
  return names.map((name) => `"${name}"`).join(', ');
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}

function shorten(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
