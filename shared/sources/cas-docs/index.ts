import type { CasDocsTarget } from '../../config.js';
import { sortCidrs, type Cidr } from '../../ipset.js';
import { fetchText } from '../../net/http.js';
import { AllowlistError, toProblem, type Problem } from '../../problem.js';
import type { Observation, ObservationStatus, ObservedEntry, Source } from '../source.js';
import { CAS_GLOBAL_DATA_CENTER, parseCasPage, type CasPage } from './page.js';
import { normaliseDataCenter, type CasEvidence, type CasSection } from './schema.js';

/** raw.githubusercontent.com serves the page source as text/plain; other mirrors use the markdown types. */
const MARKDOWN_TYPES = ['text/plain', 'text/markdown', 'text/x-markdown', 'application/octet-stream'];

export interface CasSelection {
  readonly entries: ObservedEntry[];
  readonly warnings: Problem[];
  /** Something selected could not be observed, so its previous entries must stay. */
  readonly incomplete: boolean;
}

/** Fetches the CAS network-requirements page source and keeps the configured sections and data centers. */
export const observeCasDocs: Source<CasDocsTarget> = async (target, context) => {
  const observation = (status: ObservationStatus, rest: Partial<Observation>): Observation => ({
    targetId: target.id,
    type: target.type,
    observedAt: context.now().toISOString(),
    status,
    entries: [],
    warnings: [],
    errors: [],
    ...rest,
  });
  let page: CasPage;
  try {
    const fetched = await fetchText(target.url, {
      ...context.config.http,
      contentTypes: MARKDOWN_TYPES,
      ...(context.signal ? { signal: context.signal } : {}),
    });
    page = parseCasPage(fetched.text);
  } catch (error) {
    return observation('error', { errors: [toProblem(error, 'cas-failed')] });
  }
  const facts = page.revision === undefined ? {} : { facts: { revision: page.revision } };
  const selection = selectCasEntries(page, target);
  if (selection.entries.length === 0) {
    const empty = new AllowlistError('cas-selection-empty', `the CAS page${page.revision ? ` (${page.revision})` : ''} has no addresses for ${describeSelection(target)}`);
    return observation('error', { warnings: selection.warnings, errors: [empty.toProblem()], ...facts });
  }
  return observation(selection.incomplete ? 'partial' : 'ok', { entries: selection.entries, warnings: selection.warnings, ...facts });
};

/**
 * Keeps the entries of the selected sections and data centers. Entries of the "global" data center
 * (mail servers, addresses in prose) belong to every data center, so their section alone decides.
 * A selected section or data center the page lacks, and addresses under headings we cannot place,
 * make the selection incomplete: a renamed heading must not look like removed addresses.
 */
export function selectCasEntries(page: CasPage, target: Pick<CasDocsTarget, 'sections' | 'dataCenters'>): CasSelection {
  const sections = target.sections === '*' ? undefined : new Set<CasSection>(target.sections);
  const dataCenters = target.dataCenters === '*' ? undefined : new Set(target.dataCenters.map(normaliseDataCenter));
  const pageDataCenters = new Set([...page.dataCenters].map(normaliseDataCenter));
  const warnings: Problem[] = [];
  for (const section of sections ?? []) {
    if (!page.sections.has(section)) {
      warnings.push({ code: 'cas-section-missing', message: `the CAS page${revisionNote(page)} no longer lists addresses for the selected section "${section}"` });
    }
  }
  for (const dataCenter of dataCenters ?? []) {
    if (!pageDataCenters.has(dataCenter)) {
      warnings.push({ code: 'cas-data-center-missing', message: `the CAS page${revisionNote(page)} no longer lists the selected data center "${dataCenter}"` });
    }
  }
  for (const heading of page.unrecognised) {
    warnings.push({ code: 'cas-section-unrecognised', message: `the CAS page${revisionNote(page)} lists addresses under "${heading}", which maps to no section; they are not observed` });
  }

  const evidence = new Map<Cidr, CasEvidence[]>();
  for (const entry of page.entries) {
    if (sections && !sections.has(entry.section)) continue;
    const everywhere = entry.dataCenter === CAS_GLOBAL_DATA_CENTER;
    if (dataCenters && !everywhere && !dataCenters.has(normaliseDataCenter(entry.dataCenter))) continue;
    const list = evidence.get(entry.cidr) ?? [];
    list.push({
      kind: 'cas',
      section: entry.section,
      dataCenter: entry.dataCenter,
      heading: entry.heading,
      ...(page.revision === undefined ? {} : { revision: page.revision }),
    });
    evidence.set(entry.cidr, list);
  }
  const entries = sortCidrs(evidence.keys()).map((cidr) => ({ cidr, evidence: evidence.get(cidr) ?? [] }));
  return { entries, warnings, incomplete: warnings.length > 0 };
}

function revisionNote(page: CasPage): string {
  return page.revision === undefined ? '' : ` (${page.revision})`;
}

function describeSelection(target: Pick<CasDocsTarget, 'sections' | 'dataCenters'>): string {
  const list = (value: '*' | readonly string[]) => (value === '*' ? 'all' : value.join(', '));
  return `sections ${list(target.sections)} in data centers ${list(target.dataCenters)}`;
}
