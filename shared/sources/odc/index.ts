import { createHash } from 'node:crypto';
import type { OdcTarget } from '../../config.js';
import { sortCidrs, type Cidr } from '../../ipset.js';
import type { FetchedText } from '../../net/http.js';
import type { Problem } from '../../problem.js';
import { observeMarkdownPage, probeMarkdownPage, type PageSelection } from '../markdown-page.js';
import type { Source, UnknownScope } from '../source.js';
import { ODC_UNPLACED, parseOdcPage, squash, type OdcPage, type OdcRegion, type OdcScope } from './page.js';
import { regionKey, type OdcEvidence, type OdcPurpose } from './schema.js';
import { editDistance } from '../closest.js';

/** Purposes whose tables list one row per region: a selected region missing from them is a part the page no longer shows. */
const REGIONAL_PURPOSES: readonly OdcPurpose[] = ['runtime', 'identity', 'data-platform', 'platform-unification'];

/** Which revision of the page an address was read from, as a reviewer can check it. */
export interface OdcRevision {
  /** "sha256:" and the first 16 hex digits of the SHA-256 of the page text. */
  readonly revision: string;
  /** The page's address, so a PR links to what it cites. */
  readonly url?: string;
  readonly etag?: string;
  readonly lastModified?: string;
}

/** Fetches the ODC public IP addresses page and keeps the configured purposes, regions and stages. */
export const observeOdc: Source<OdcTarget> = (target, context) =>
  observeMarkdownPage({
    target,
    context,
    // The revision is the fetched text's, so it is read beside the page.
    parse: (fetched) => ({ revision: { ...revisionOf(fetched), url: target.url }, page: parseOdcPage(fetched.text) }),
    select: ({ page, revision }) => selectOdcEntries(page, target, revision),
    revision: ({ revision }) => revision.revision,
    failCode: 'odc-failed',
    emptyCode: 'odc-selection-empty',
    describeEmpty: ({ revision }) => `the ODC page (${revision.revision}) has no addresses for ${describeSelection(target)}`,
  });

/** allowlist-drift doctor: whether the page answers with a markdown type, as a run needs, without reading it. */
export const probeOdc = probeMarkdownPage;

/** The page has no date in its front matter: its content hash names the revision, with the server's validators beside it. */
export function revisionOf(fetched: Pick<FetchedText, 'text' | 'etag' | 'lastModified'>): OdcRevision {
  const hash = createHash('sha256').update(fetched.text, 'utf8').digest('hex').slice(0, 16);
  return {
    revision: `sha256:${hash}`,
    ...(fetched.etag ? { etag: fetched.etag } : {}),
    ...(fetched.lastModified ? { lastModified: fetched.lastModified } : {}),
  };
}

/**
 * Keeps the entries of the selected purposes, regions and stages. What the page could not show of the selection
 * makes the observation partial, as narrowly as it can be told: a broken cell blinds its row; a selected region the
 * page no longer names blinds that region (the page has renamed regions, so the warning names the closest current
 * name); a selected purpose or a runtime stage the page lacks for a region blinds that part. An address under a
 * section no rule maps is observed as `other` when purposes are "*", and blinds everything when they are listed,
 * since a renamed section must not look like removed addresses.
 */
export function selectOdcEntries(
  page: OdcPage,
  target: Pick<OdcTarget, 'regions' | 'stages' | 'purposes'>,
  revision: OdcRevision,
): PageSelection {
  const purposes = target.purposes === '*' ? undefined : new Set<OdcPurpose>(target.purposes);
  const stages = target.stages === '*' ? undefined : new Set<string>(target.stages);
  const purposeSelected = (purpose: OdcPurpose) => purposes === undefined || purposes.has(purpose);
  const stageSelected = (stage: string | undefined) => stages === undefined || stage === undefined || stages.has(stage);
  // Each configured region, as the keys of the page regions it names (by name, anchor or key, ignoring case and punctuation).
  const configured = target.regions === '*' ? undefined : target.regions.map((name) => ({ name, keys: regionsNamed(page, name) }));
  const selectedKeys = configured === undefined ? undefined : new Set(configured.flatMap((region) => region.keys));
  const regionSelected = (region: string) => selectedKeys === undefined || region === ODC_UNPLACED || selectedKeys.has(region);
  const note = ` (${revision.revision})`;
  const warnings: Problem[] = [];
  const unknown = new Map<string, UnknownScope>();
  const blind = (scope: { purpose?: OdcPurpose; region?: string; stage?: string }) => {
    const pattern: UnknownScope = { kind: 'odc', ...scope };
    unknown.set(JSON.stringify(pattern), pattern);
  };

  for (const region of configured ?? []) {
    if (region.keys.length > 0) continue;
    const closest = closestRegion(page, region.name);
    warnings.push({
      code: 'odc-region-missing',
      message:
        `the ODC page${note} no longer names the selected region "${region.name}"` +
        (closest
          ? `; the closest current name is "${closest.name}" (the page has renamed regions before): if that is your region, write it in "regions"`
          : '') +
        `; the region's approved addresses are kept, neither missed nor removed`,
    });
    blind({ region: regionKey(region.name) });
  }
  for (const purpose of REGIONAL_PURPOSES.filter((p) => purposes?.has(p))) {
    const rows = page.rows.get(purpose);
    if (rows === undefined) {
      warnings.push({
        code: 'odc-purpose-missing',
        message: `the ODC page${note} lists no addresses for the selected purpose "${purpose}"; its approved addresses are kept, neither missed nor removed`,
      });
      blind({ purpose });
    }
  }
  // A named region present elsewhere on the page but without a row in a selected purpose, or without a selected stage.
  for (const key of selectedKeys ?? []) {
    for (const purpose of REGIONAL_PURPOSES) {
      const rows = page.rows.get(purpose);
      if (!purposeSelected(purpose) || rows === undefined) continue;
      const name = page.regions.get(key)?.name ?? key;
      const stagesListed = rows.get(key);
      if (stagesListed === undefined) {
        // Selecting "*" purposes must not make every region missing from a section that never listed it a warning.
        if (purposes === undefined) continue;
        const listed = { regions: new Map([...page.regions].filter(([other]) => rows.has(other))) };
        warnings.push({
          code: 'odc-region-missing',
          message: `the ODC page${note} lists no ${purpose} addresses for the selected region "${name}"${closestNote(closestRegion(listed, name))}; its approved ${purpose} addresses there are kept, neither missed nor removed`,
        });
        blind({ purpose, region: key });
        continue;
      }
      if (purpose !== 'runtime' || stages === undefined) continue;
      for (const stage of stages) {
        if (stagesListed.has(stage)) continue;
        warnings.push({
          code: 'odc-stage-missing',
          message: `the ODC page${note} lists no ${stage} runtime addresses for region "${name}"; the approved ones are kept, neither missed nor removed`,
        });
        blind({ purpose, region: key, stage });
      }
    }
  }
  let incomplete = false;
  for (const heading of page.unrecognised) {
    if (purposes === undefined) {
      warnings.push({
        code: 'odc-section-unrecognised',
        message: `the ODC page${note} lists addresses under "${heading}", which maps to no purpose; they are observed under purpose "other"`,
      });
    } else if (!purposes.has('other')) {
      incomplete = true;
      warnings.push({
        code: 'odc-section-unrecognised',
        message: `the ODC page${note} lists addresses under "${heading}", which maps to no purpose; a selected purpose may have been renamed, so this check removes nothing`,
      });
    }
  }
  for (const issue of page.issues) {
    const scopes = issue.scopes.filter(
      (scope) =>
        purposeSelected(scope.purpose) && (scope.region === undefined || regionSelected(scope.region)) && stageSelected(scope.stage),
    );
    if (scopes.length === 0) continue;
    for (const scope of scopes) blind(scope);
    warnings.push({
      code: issue.code,
      message: `${issue.message}${note}; until the page is fixed, what it lists for ${scopes.map(describeScope).join(', ')} is unknown: approved addresses from there are kept, neither missed nor removed`,
    });
  }

  const evidence = new Map<Cidr, OdcEvidence[]>();
  for (const entry of page.entries) {
    if (!purposeSelected(entry.purpose) || !regionSelected(entry.region) || !stageSelected(entry.stage)) continue;
    evidence.set(entry.cidr, [
      ...(evidence.get(entry.cidr) ?? []),
      {
        kind: 'odc',
        purpose: entry.purpose,
        region: entry.region,
        ...(entry.stage === undefined ? {} : { stage: entry.stage }),
        heading: entry.heading,
        ...revision,
      },
    ]);
  }
  const entries = sortCidrs(evidence.keys()).map((cidr) => ({ cidr, evidence: evidence.get(cidr) ?? [] }));
  return { entries, warnings, incomplete, unknownScopes: [...unknown.values()] };
}

/** The keys of the page regions a configured name stands for. */
function regionsNamed(page: OdcPage, name: string): string[] {
  const wanted = squash(name);
  return [...page.regions.values()].filter((region) => region.spellings.has(wanted)).map((region) => region.key);
}

/**
 * The current region a vanished name most likely became. Renames keep the location in parentheses ("Middle East (Tel
 * Aviv)" became "Israel (Tel Aviv)"), so a region with the same location wins; otherwise the fewest edits apart.
 */
export function closestRegion(page: Pick<OdcPage, 'regions'>, name: string): OdcRegion | undefined {
  const regions = [...page.regions.values()];
  const location = (text: string) => squash(/\(([^)]*)\)/.exec(text)?.[1] ?? '');
  const sameLocation = location(name) === '' ? [] : regions.filter((region) => location(region.name) === location(name));
  if (sameLocation.length === 1) return sameLocation[0];
  const wanted = squash(name);
  let best: { region: OdcRegion; distance: number } | undefined;
  for (const region of sameLocation.length > 1 ? sameLocation : regions) {
    const distance = editDistance(wanted, squash(region.name));
    if (best === undefined || distance < best.distance) best = { region, distance };
  }
  return best?.region;
}

function closestNote(region: OdcRegion | undefined): string {
  return region
    ? `; the closest current name is "${region.name}" (the page has renamed regions before): if that is your region, write it in "regions"`
    : '';
}

function describeScope(scope: OdcScope): string {
  return [scope.purpose, scope.region && `region ${scope.region}`, scope.stage && `stage ${scope.stage}`].filter(Boolean).join(' in ');
}

function describeSelection(target: Pick<OdcTarget, 'regions' | 'stages' | 'purposes'>): string {
  const list = (value: '*' | readonly string[]) => (value === '*' ? 'all' : value.join(', '));
  return `purposes ${list(target.purposes)} in regions ${list(target.regions)}, stages ${list(target.stages)}`;
}
