import type { CasDocsTarget } from '../../config.js';
import { sortCidrs, type Cidr } from '../../ipset.js';
import type { Problem } from '../../problem.js';
import { observeMarkdownPage, probeMarkdownPage, type PageSelection } from '../markdown-page.js';
import type { Source, UnknownScope } from '../source.js';
import { CAS_GLOBAL_DATA_CENTER, CAS_NOTICE_SECTION, parseCasPage, type CasPage, type CasScope } from './page.js';
import { normaliseDataCenter, type CasEvidence, type CasSection } from './schema.js';

/** Fetches the CAS network-requirements page source and keeps the configured sections and data centers. */
export const observeCasDocs: Source<CasDocsTarget> = (target, context) =>
  observeMarkdownPage({
    target,
    context,
    parse: (fetched) => parseCasPage(fetched.text),
    select: (page) => selectCasEntries(page, target),
    revision: (page) => page.revision,
    failCode: 'cas-failed',
    emptyCode: 'cas-selection-empty',
    describeEmpty: (page) => `the CAS page${page.revision ? ` (${page.revision})` : ''} has no addresses for ${describeSelection(target)}`,
  });

/** allowlist-drift doctor: whether the page answers with a markdown type, as a run needs, without reading it. */
export const probeCasDocs = probeMarkdownPage;

/**
 * Keeps the entries of the selected sections and data centers. Entries of the "global" data center
 * (mail servers, addresses in prose) belong to every data center, so their section alone decides.
 * What the page could not show of the selection makes the observation partial, as narrowly as it can be told:
 * a cell that does not parse, a selected section or data center the page lacks, each blinds its own scope; an
 * address under a heading no rule maps blinds everything when sections are listed by name, since a renamed
 * heading must not look like removed addresses ("*" observes those addresses under `notice`).
 */
export function selectCasEntries(
  page: CasPage,
  target: Pick<CasDocsTarget, 'sections' | 'dataCenters'> & Partial<Pick<CasDocsTarget, 'url'>>,
): PageSelection {
  const sections = target.sections === '*' ? undefined : new Set<CasSection>(target.sections);
  const dataCenters = target.dataCenters === '*' ? undefined : new Set(target.dataCenters.map(normaliseDataCenter));
  const sectionSelected = (section: CasSection) => sections === undefined || sections.has(section);
  const dataCenterSelected = (dataCenter: string | undefined) =>
    dataCenters === undefined ||
    dataCenter === undefined ||
    dataCenter === CAS_GLOBAL_DATA_CENTER ||
    dataCenters.has(normaliseDataCenter(dataCenter));
  const pageDataCenters = new Set([...page.dataCenters].map(normaliseDataCenter));
  const warnings: Problem[] = [];
  const unknown = new Map<string, UnknownScope>();
  const blind = (scope: CasScope | { readonly dataCenter: string }) => {
    const pattern: UnknownScope = {
      kind: 'cas',
      ...('section' in scope ? { section: scope.section } : {}),
      ...(scope.dataCenter === undefined ? {} : { dataCenter: scope.dataCenter }),
    };
    unknown.set(JSON.stringify(pattern), pattern);
  };

  for (const section of sections ?? []) {
    // The notice comes and goes with announcements; a page without one is the usual page.
    if (section === CAS_NOTICE_SECTION || page.sections.has(section)) continue;
    warnings.push({
      code: 'cas-section-missing',
      message: `the CAS page${revisionNote(page)} no longer lists addresses for the selected section "${section}"; its approved addresses are kept, neither missed nor removed`,
    });
    blind({ section });
  }
  // The first revisions named no data center: every address applied to all of them.
  const namesDataCenters = [...pageDataCenters].some((dataCenter) => dataCenter !== normaliseDataCenter(CAS_GLOBAL_DATA_CENTER));
  for (const dataCenter of namesDataCenters ? (dataCenters ?? []) : []) {
    if (pageDataCenters.has(dataCenter)) continue;
    warnings.push({
      code: 'cas-data-center-missing',
      message: `the CAS page${revisionNote(page)} no longer lists the selected data center "${dataCenter}"; its approved addresses are kept, neither missed nor removed`,
    });
    blind({ dataCenter });
  }
  let incomplete = false;
  for (const heading of page.unrecognised) {
    if (sections === undefined) {
      warnings.push({
        code: 'cas-section-unrecognised',
        message: `the CAS page${revisionNote(page)} lists addresses under "${heading}", which maps to no section; they are observed under section "${CAS_NOTICE_SECTION}"`,
      });
    } else {
      incomplete = true;
      warnings.push({
        code: 'cas-section-unrecognised',
        message: `the CAS page${revisionNote(page)} lists addresses under "${heading}", which maps to no section; a selected section may have been renamed, so this check removes nothing`,
      });
    }
  }
  for (const issue of page.issues) {
    const scopes = issue.scopes.filter((scope) => sectionSelected(scope.section) && dataCenterSelected(scope.dataCenter));
    if (issue.scopes.length > 0 && scopes.length === 0) continue;
    for (const scope of scopes) blind(scope);
    const consequence =
      scopes.length === 0
        ? ''
        : `; until the page is fixed, what it lists for ${scopes.map(describeScope).join(', ')} is unknown: approved addresses from there are kept, neither missed nor removed`;
    warnings.push({ code: issue.code, message: `${issue.message}${consequence}` });
  }

  const evidence = new Map<Cidr, CasEvidence[]>();
  for (const entry of page.entries) {
    if (!sectionSelected(entry.section)) continue;
    if (!dataCenterSelected(entry.dataCenter)) continue;
    const list = evidence.get(entry.cidr) ?? [];
    list.push({
      kind: 'cas',
      section: entry.section,
      dataCenter: entry.dataCenter,
      heading: entry.heading,
      ...(page.revision === undefined ? {} : { revision: page.revision }),
      // The reviewer's one click to the page the address stands on.
      ...(target.url === undefined ? {} : { url: target.url }),
    });
    evidence.set(entry.cidr, list);
  }
  const entries = sortCidrs(evidence.keys()).map((cidr) => ({ cidr, evidence: evidence.get(cidr) ?? [] }));
  return { entries, warnings, incomplete, unknownScopes: [...unknown.values()] };
}

function describeScope(scope: CasScope): string {
  return scope.dataCenter === undefined
    ? `section ${scope.section} (every data center)`
    : `section ${scope.section} in ${scope.dataCenter}`;
}

function revisionNote(page: CasPage): string {
  return page.revision === undefined ? '' : ` (${page.revision})`;
}

function describeSelection(target: Pick<CasDocsTarget, 'sections' | 'dataCenters'>): string {
  const list = (value: '*' | readonly string[]) => (value === '*' ? 'all' : value.join(', '));
  return `sections ${list(target.sections)} in data centers ${list(target.dataCenters)}`;
}
