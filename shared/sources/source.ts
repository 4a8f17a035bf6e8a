import type { z } from 'zod';
import type { Config, Target } from '../config.js';
import type { Cidr } from '../ipset.js';
import type { Problem } from '../problem.js';
import type { EntryEvidence } from './registry.js';

/**
 * Why an address is in an observation; shown to reviewers in the PR body. Each source's schema.ts defines
 * its kinds (zod schemas, which the state codec also validates stored rows with); this is their union.
 */
export type { EntryEvidence } from './registry.js';

/** One kind of evidence: a zod object whose "kind" is a literal naming it. */
export type EvidenceSchema = z.ZodObject<{ kind: z.ZodLiteral<string> }, z.core.$ZodObjectConfig>;

/**
 * What a source's schema.ts declares about its type; shared/sources/registry.ts adds the lazily imported
 * `observe` and the target type's name.
 */
export interface SourceDefinition<
  Fields extends z.core.$ZodLooseShape = z.core.$ZodLooseShape,
  Evidence extends readonly EvidenceSchema[] = readonly EvidenceSchema[],
> {
  /** The target's own config keys, after the id, type and description every target has. */
  readonly fields: Fields;
  /** JSON Schema keywords for the target's object (e.g. "oneOf" for keys of which one must be set). */
  readonly meta?: z.core.GlobalMeta;
  /**
   * Checks relating one key of a target to another, on the raw JSON (so they run even when some field failed);
   * one line per problem, each starting with `at` ("targets[2]") or a path below it.
   */
  readonly problems?: (target: Readonly<Record<string, unknown>>, at: string) => string[];
  /** The evidence kinds this source's entries carry. */
  readonly evidence: Evidence;
  /**
   * The evidence kinds a person writes into the config (static entries, VPN ranges), decided per kind: private
   * space and broad prefixes are deliberate there, so the special-range guard skips them. [] when every entry is observed.
   */
  readonly configured: readonly z.output<Evidence[number]>['kind'][];
  /**
   * The evidence kinds whose new addresses are urgent: traffic from them is blocked until they are allowlisted (a
   * front-end's new address). A file that cannot take one for capacity is the run's first error. Absent when none is.
   */
  readonly urgent?: readonly z.output<Evidence[number]>['kind'][];
  /**
   * The addresses a raw target writes that every run observes exactly as written; the config check of
   * per-address template lines reads them. Absent when the type writes none that way.
   */
  readonly fixedEntries?: (target: Readonly<Record<string, unknown>>) => readonly unknown[];
  /** The app setting whose timer runs this type's targets (one timer per setting in functions/timers.ts). */
  readonly schedule: ScheduleSetting;
  /** What the doctor checks for a target of this type; the probe itself is imported on first use (registry.ts). */
  readonly doctor: SourceDoctor<Readonly<z.output<z.ZodObject<Fields>>>>;
  /**
   * One phrase for a reviewer; `inert` makes text from upstream (hostnames, headings) safe in the PR body.
   * A method, not a property, so the registry can keep every source's describe in one map by kind.
   */
  describe(evidence: Readonly<z.output<Evidence[number]>>, inert: (text: string) => string): string;
  /**
   * The same evidence split for a PR body that states shared evidence once: see Citation. `link` makes a markdown
   * link of a URL the source recorded (or plain text when the URL is not a plain https one).
   */
  cite(
    evidence: Readonly<z.output<Evidence[number]>>,
    inert: (text: string) => string,
    link: (url: string, text: string) => string,
  ): Citation;
}

/** The timers' schedule settings; their names are deployed and keep their spelling. */
export type ScheduleSetting = 'OUTSYSTEMS_SCHEDULE' | 'CAS_SCHEDULE';

/** One upstream the doctor probes for a target; targets with the same key share one check. */
export interface UpstreamPlan {
  /** The check's name before its target ids: `upstream` for a document, or the API's name (`arm`). */
  readonly check: string;
  readonly key: string;
  /** What answered, in the check's line: "the document". */
  readonly what: string;
}

/** A source's part of the set-up check (shared/doctor/). */
export interface SourceDoctor<T> {
  /** The upstream a target's probe asks; absent when the type has no upstream to probe (DNS has its own check). */
  upstream?(target: T): UpstreamPlan;
  /** Checks reported as passed when no target of the config plans a check of that name (`arm` when nothing uses ARM). */
  readonly unused?: readonly { readonly check: string; readonly detail: string }[];
  /** A hostname the DNS check asks each resolver for; the first target that names one is used. */
  resolve?(target: T): string | undefined;
  /** The fix for a failed probe of this type, when the general wording would not do; `status` is the HTTP status. */
  fix?(failure: { readonly code: string | undefined; readonly status: number | undefined }, target: T): string | undefined;
}

/**
 * The set-up check of a source that reads one markdown page from its `url`: the page itself is probed, and a
 * rendered HTML page or a moved one gets a fix that names the raw source to use.
 */
export function markdownPageDoctor(page: { readonly rawSource: string; readonly name: string }): SourceDoctor<{ readonly url: string }> {
  return {
    upstream: (target) => ({ check: 'upstream', key: target.url, what: 'the document' }),
    fix: ({ code, status }) => {
      if (code === 'http-content-type') return `Use the raw markdown source of the page (${page.rawSource}), not the rendered HTML page.`;
      if (code === 'http-status' && (status === 404 || status === 410))
        return `The page moved: set url to the raw markdown of ${page.name}.`;
      return undefined;
    },
  };
}

/**
 * Where an address came from, in three parts. Addresses whose citations are equal are listed under one line.
 * `source`: the document or answer, with its version and a link where there is one ("CAS page, revision
 * 2024-02-29"); `place`: where in it, the same from one version to the next ("App connector, US1"), so a removed
 * address can be compared with what that place holds now; `detail`: what may vary from one check to the next while
 * the place holds the same addresses (a DNS TTL, a tag's changeNumber), shown but no reason on its own to refresh a PR body.
 */
export interface Citation {
  readonly source: string;
  readonly place: string;
  readonly detail?: string;
}

/** Declares a source's definition with its exact field and evidence types inferred. */
export function defineSource<const Fields extends z.core.$ZodLooseShape, const Evidence extends readonly EvidenceSchema[]>(
  definition: SourceDefinition<Fields, Evidence>,
): SourceDefinition<Fields, Evidence> {
  return definition;
}

export interface ObservedEntry {
  readonly cidr: Cidr;
  readonly evidence: readonly EntryEvidence[];
}

/**
 * ok: every part of the target answered, so absence is meaningful;
 * partial: some parts answered and some did not (their previous entries must stay);
 * error: nothing usable was observed.
 */
export type ObservationStatus = 'ok' | 'partial' | 'error';

/**
 * A part of a source a partial observation could not read, as a pattern over evidence: an entry's evidence
 * lies in the scope when it has every field of the scope with the same value. For example
 * `{ kind: 'cas', section: 'app-connector', dataCenter: 'US1' }` is one data center's row of one CAS table,
 * and `{ kind: 'cas', section: 'mail' }` the whole mail section. Plain JSON, so it can be stored and compared.
 */
export interface UnknownScope {
  readonly kind: EntryEvidence['kind'];
  readonly [field: string]: string;
}

export interface Observation {
  readonly targetId: string;
  readonly type: Target['type'];
  readonly observedAt: string;
  readonly status: ObservationStatus;
  /** Canonical CIDRs, unique, sorted (IPv4 before IPv6, numeric); not aggregated, so evidence stays per entry. */
  readonly entries: readonly ObservedEntry[];
  readonly warnings: readonly Problem[];
  readonly errors: readonly Problem[];
  /** Source facts worth keeping between runs (e.g. the service-tags file changeNumber for the stale rule). */
  readonly facts?: Readonly<Record<string, string | number>>;
  /**
   * Only on a partial observation: the parts that could not be read, when the source can say which. A baseline
   * address missing from the observation then counts as a miss unless its last known evidence lies in one of
   * them; without this list a partial observation proves nothing about absence. (The warnings say why.)
   */
  readonly unknownScopes?: readonly UnknownScope[];
}

/** What a source may use: settings, secrets by app-setting name, and what the previous run recorded. */
export interface SourceContext {
  readonly config: Pick<Config, 'dns' | 'http'>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Facts of this target's previous observation, if any. */
  readonly previousFacts?: Readonly<Record<string, string | number>>;
  readonly now: () => Date;
  readonly signal?: AbortSignal;
  /** The last complete reads of upstream documents, by URL; absent, every document is downloaded in full. */
  readonly documents?: import('../net/document-cache.js').DocumentCache;
  /** Replaces DefaultAzureCredential for the ARM service-tags API (tests). */
  readonly armCredential?: import('@azure/core-auth').TokenCredential;
}

export type Source<T extends Target> = (target: T, context: SourceContext) => Promise<Observation>;

/** What a source reads of its upstream: the observation without whose and when, which `stamp` adds. */
export type Reading = Omit<Observation, 'targetId' | 'type' | 'observedAt'>;

/** The observation of a reading: the target's id and type and the time it was taken, the same for every source. */
export function stamp(target: Pick<Target, 'id' | 'type'>, at: Date, reading: Reading): Observation {
  return { targetId: target.id, type: target.type, observedAt: at.toISOString(), ...reading };
}

/** A source's observe function from its reader; the time is read when the reading is done. */
export function observing<T extends Target>(read: (target: T, context: SourceContext) => Promise<Reading>): Source<T> {
  return async (target, context) => {
    const reading = await read(target, context);
    return stamp(target, context.now(), reading);
  };
}
