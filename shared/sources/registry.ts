import type { z } from 'zod';
import { casDocs } from './cas-docs/schema.js';
import { odc } from './odc/schema.js';
import { outsystems } from './outsystems/schema.js';
import { serviceTags } from './service-tags/schema.js';
import type { Target } from '../config.js';
import type { ProbedUrl } from '../net/http.js';
import type { Citation, Observation, ScheduleSetting, SourceContext, SourceDefinition } from './source.js';
import { staticEntries } from './static/schema.js';

/** A source's observe function, for any of its targets. */
type Observe = (target: never, context: SourceContext) => Promise<Observation>;
/** A source's doctor probe: whether its upstream answers as a run needs, without reading the document. */
type Probe = (target: never, context: SourceContext) => Promise<ProbedUrl>;

/**
 * Every target type, keyed by its "type" in the config, in the order the config schema (and its JSON Schema)
 * lists them. Adding a type is a folder shared/sources/<type>/ (schema.ts, index.ts) and one line here.
 * `observe` and `probe` import the source's behaviour on first use, so a DNS-only run does not load the markdown
 * parser; `probe` is null for a type with no upstream to probe (its doctor part says what is checked instead).
 */
export const SOURCES = {
  outsystems: {
    ...outsystems,
    observe: async (): Promise<Observe> => (await import('./outsystems/index.js')).observeOutSystems,
    probe: null,
  },
  'cas-docs': {
    ...casDocs,
    observe: async (): Promise<Observe> => (await import('./cas-docs/index.js')).observeCasDocs,
    probe: async (): Promise<Probe> => (await import('./cas-docs/index.js')).probeCasDocs,
  },
  'service-tags': {
    ...serviceTags,
    observe: async (): Promise<Observe> => (await import('./service-tags/index.js')).observeServiceTags,
    probe: async (): Promise<Probe> => (await import('./service-tags/index.js')).probeServiceTags,
  },
  odc: {
    ...odc,
    observe: async (): Promise<Observe> => (await import('./odc/index.js')).observeOdc,
    probe: async (): Promise<Probe> => (await import('./odc/index.js')).probeOdc,
  },
  static: { ...staticEntries, observe: async (): Promise<Observe> => (await import('./static/index.js')).observeStatic, probe: null },
};

export type TargetType = keyof typeof SOURCES;
export const TARGET_TYPES = Object.keys(SOURCES) as TargetType[];

/** A parsed target of one type. */
export type TargetOf<Type extends TargetType> = Extract<Target, { type: Type }>;
export type OutSystemsTarget = TargetOf<'outsystems'>;
export type CasDocsTarget = TargetOf<'cas-docs'>;
export type ServiceTagsTarget = TargetOf<'service-tags'>;
export type OdcTarget = TargetOf<'odc'>;
export type StaticTarget = TargetOf<'static'>;

type KnownEvidenceSchema = { [Type in TargetType]: (typeof SOURCES)[Type]['evidence'][number] }[TargetType];
/** Why an address is in an observation; shown to reviewers in the PR body. */
export type EntryEvidence = Readonly<z.output<KnownEvidenceSchema>>;

/** The source registered for a type, or undefined for a type no source knows (only code can build such a target). */
export function sourceOf(type: string): (typeof SOURCES)[TargetType] | undefined {
  return Object.hasOwn(SOURCES, type) ? SOURCES[type as TargetType] : undefined;
}

/** The doctor's part of the source of a type (see SourceDoctor), or undefined for a type no source knows. */
export function doctorOf(type: string): SourceDefinition['doctor'] | undefined {
  return (sourceOf(type) as SourceDefinition | undefined)?.doctor;
}

/** The types whose targets the timer of `schedule` runs. */
export function typesOnSchedule(schedule: ScheduleSetting): TargetType[] {
  return TARGET_TYPES.filter((type) => SOURCES[type].schedule === schedule);
}

const configuredKinds = new Set<string>(Object.values(SOURCES).flatMap((source: SourceDefinition) => source.configured));

/** Whether evidence of this kind is written into the config by a person (see SourceDefinition.configured). */
export function isConfiguredKind(kind: string): boolean {
  return configuredKinds.has(kind);
}

const urgentKinds = new Set<string>(Object.values(SOURCES).flatMap((source: SourceDefinition) => source.urgent ?? []));

/** Whether a new address with evidence of this kind is urgent (see SourceDefinition.urgent). */
export function isUrgentKind(kind: string): boolean {
  return urgentKinds.has(kind);
}

/** Every evidence kind's schema (the state codec validates stored entries with them). */
export const EVIDENCE_SCHEMAS = Object.values(SOURCES).flatMap<KnownEvidenceSchema>((source) => source.evidence) as [
  KnownEvidenceSchema,
  ...KnownEvidenceSchema[],
];

const sourceOfKind = new Map<string, SourceDefinition>(
  Object.values(SOURCES).flatMap((source: SourceDefinition) => source.evidence.map((schema) => [schema.shape.kind.value, source] as const)),
);

/** One phrase for a reviewer, by the source that recorded the evidence; `inert` makes upstream text safe in markdown. */
export function describeEvidence(evidence: EntryEvidence, inert: (text: string) => string): string {
  const source = sourceOfKind.get(evidence.kind);
  // Stored evidence is validated against EVIDENCE_SCHEMAS, so only code can build a kind no source knows.
  return source ? source.describe(evidence, inert) : `evidence of kind ${inert(String(evidence.kind))}`;
}

/** The evidence as its source cites it (see Citation); `link` renders a recorded URL. */
export function citeEvidence(
  evidence: EntryEvidence,
  inert: (text: string) => string,
  link: (url: string, text: string) => string,
): Citation {
  const source = sourceOfKind.get(evidence.kind);
  return source ? source.cite(evidence, inert, link) : { source: `evidence of kind ${inert(String(evidence.kind))}`, place: 'unknown' };
}
