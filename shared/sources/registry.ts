import type { z } from 'zod';
import { casDocs } from './cas-docs/schema.js';
import { odc } from './odc/schema.js';
import { outsystems } from './outsystems/schema.js';
import { serviceTags } from './service-tags/schema.js';
import type { Citation, Observation, SourceContext, SourceDefinition } from './source.js';
import { staticEntries } from './static/schema.js';

/** A source's observe function, for any of its targets. */
type Observe = (target: never, context: SourceContext) => Promise<Observation>;

/**
 * Every target type, keyed by its "type" in the config, in the order the config schema (and its JSON Schema)
 * lists them. Adding a type is a folder shared/sources/<type>/ (schema.ts, index.ts) and one line here.
 * `observe` imports the source's behaviour on first use, so a DNS-only run does not load the markdown parser.
 */
export const SOURCES = {
  outsystems: { ...outsystems, observe: async (): Promise<Observe> => (await import('./outsystems/index.js')).observeOutSystems },
  'cas-docs': { ...casDocs, observe: async (): Promise<Observe> => (await import('./cas-docs/index.js')).observeCasDocs },
  'service-tags': { ...serviceTags, observe: async (): Promise<Observe> => (await import('./service-tags/index.js')).observeServiceTags },
  odc: { ...odc, observe: async (): Promise<Observe> => (await import('./odc/index.js')).observeOdc },
  static: { ...staticEntries, observe: async (): Promise<Observe> => (await import('./static/index.js')).observeStatic },
};

export type TargetType = keyof typeof SOURCES;
export const TARGET_TYPES = Object.keys(SOURCES) as TargetType[];

type KnownEvidenceSchema = { [Type in TargetType]: (typeof SOURCES)[Type]['evidence'][number] }[TargetType];
/** Why an address is in an observation; shown to reviewers in the PR body. */
export type EntryEvidence = Readonly<z.output<KnownEvidenceSchema>>;

/** The source registered for a type, or undefined for a type no source knows (only code can build such a target). */
export function sourceOf(type: string): (typeof SOURCES)[TargetType] | undefined {
  return Object.hasOwn(SOURCES, type) ? SOURCES[type as TargetType] : undefined;
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
