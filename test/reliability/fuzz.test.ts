import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, parseConfigText } from '../../shared/config.js';
import { CAS_SECTIONS } from '../../shared/sources/cas-docs/schema.js';
import { parseCheckBody, parseCheckQuery } from '../../functions/lib/http-api.js';
import { parseCidr, tryParseCidr } from '../../shared/ipset.js';
import { AllowlistError } from '../../shared/problem.js';
import { parseCasPage } from '../../shared/sources/cas-docs/page.js';
import { extractServiceTags, summariseServiceTags } from '../../shared/sources/service-tags/index.js';
import { sharedFile } from '../peers/http.js';
import { expectCanonical, mutations } from './fuzzing.js';

/** Enough runs per parser to reach odd corners, few enough that the file stays well under a minute. */
const RUNS = 600;
const SEED = 20_260_406;
const settings = { numRuns: RUNS, seed: SEED };

const CAS_PAGES = [
  'fixtures/cas/network-requirements_2017-09-27.md',
  'fixtures/cas/network-requirements_2018-05-14.md',
  'fixtures/cas/network-requirements_2024-06-20.md',
].map((path) => sharedFile(path).toString('utf8'));

const serviceTags = JSON.parse(sharedFile('fixtures/service-tags/ServiceTags_Public_2025-11-07.json').toString('utf8')) as {
  changeNumber: number;
  cloud: string;
  values: Array<{ name: string; properties: { addressPrefixes: string[] } }>;
};
const MCAS = 'MicrosoftCloudAppSecurity';
const AFD = 'AzureFrontDoor.MicrosoftSecurity';
/** A document of a few real tags, small enough to mutate thousands of times. */
const SERVICE_TAGS_SLICE = JSON.stringify({
  changeNumber: serviceTags.changeNumber,
  cloud: serviceTags.cloud,
  values: serviceTags.values.filter((v) => v.name === AFD || v.name.startsWith(`${MCAS}.West`) || v.name === 'ActionGroup'),
});

const SAMPLE_CONFIG = readFileSync(resolve(import.meta.dirname, '../../allowlist-drift.config.json'), 'utf8');

/**
 * The property every parser of outside data must have: it either returns or throws one of the typed
 * errors with a stable kebab-case code. A TypeError, RangeError or anything untyped is a crash.
 */
function typedOutcome<T>(parse: () => T): { ok: true; value: T } | { ok: false; error: AllowlistError | ConfigError } {
  try {
    return { ok: true, value: parse() };
  } catch (error) {
    if (error instanceof AllowlistError || error instanceof ConfigError) {
      expect(error.code).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(error.message.length).toBeGreaterThan(0);
      return { ok: false, error };
    }
    throw new Error(`untyped ${(error as Error)?.name ?? typeof error} escaped the parser: ${(error as Error)?.message ?? String(error)}`, {
      cause: error,
    });
  }
}

/** Markdown-ish text built from the tokens the CAS parser reacts to. */
const markdownToken = fc.oneof(
  fc.constantFrom(
    '# ',
    '## ',
    '### ',
    '#### ',
    '> ',
    '> [!div class="mx-tableFixed"]\n',
    '|',
    ' | ',
    '|---|---|\n',
    '| --- |',
    '\n',
    '\n\n',
    '<br>',
    '<br></br>',
    '<br /><br />',
    ', ',
    '---\n',
    'ms.date: 06/20/2024\n',
    '```\n',
    '1. ',
    '   ',
  ),
  fc.constantFrom(
    'Portal access',
    'SIEM agent',
    'Log collector',
    'App connector',
    'Third-party DLP integration',
    'Mail server',
    'Access and session controls',
    'US1',
    'EU2',
    'GOV US1',
    'Data center',
    'IP address',
  ),
  fc.constantFrom(
    '13.64.26.88',
    '40.74.1.235/32',
    '52.183.75.62',
    '2603:1006:2000::/48',
    '0.0.0.0/0',
    '999.1.1.1',
    '10.0.0.1/33',
    '::/0',
    'fe80::1%eth0',
    '192.0.2.1/24',
  ),
  fc.string({ maxLength: 12 }),
);
const randomMarkdown = fc.array(markdownToken, { maxLength: 120 }).map((tokens) => tokens.join(''));

/** A page with the shape of the real ones (sections, data-center tables, a mail list) and random cell contents. */
const cellToken = fc.oneof(
  { arbitrary: fc.ipV4(), weight: 12 },
  { arbitrary: fc.ipV6(), weight: 2 },
  { arbitrary: fc.tuple(fc.ipV4(), fc.integer({ min: 16, max: 32 })).map(([ip, bits]) => `${ip}/${bits}`), weight: 2 },
  { arbitrary: fc.constantFrom(' ', 'n/a', '13.64.26.88 ', '*.portal.cloudappsecurity.com', '<br>'), weight: 2 },
);
const tableRow = fc.tuple(
  fc.constantFrom('US1', 'US2', 'EU1', 'EU2', 'Gov US1', 'GCC', 'US'),
  fc.array(cellToken, { maxLength: 6 }),
  fc.constantFrom(', ', ',', '<br>', '<br></br>', ' '),
);
const section = (heading: fc.Arbitrary<string>) => fc.tuple(heading, fc.array(tableRow, { minLength: 1, maxLength: 4 }));
/** Address-like text no parser can read: a page listing it must name it in an issue, never read on without it. */
const junk = fc.oneof(
  { arbitrary: fc.constant(null), weight: 3 },
  { arbitrary: fc.constantFrom('1.2.3', '300.1.1.1', '10.0.0.1/40', '52.0.0.1/33'), weight: 1 },
);
/** The sections every revision has come first, so a fair share of pages is complete enough to be accepted. */
const structuredPage = fc
  .tuple(
    fc.tuple(section(fc.constant('## Portal access')), section(fc.constant('## App connector'))),
    fc.array(
      section(
        fc.constantFrom('## SIEM agent connection', '## Log collector', '## Third-party DLP integration', '## Something new', '### US1'),
      ),
      { maxLength: 4 },
    ),
    fc.array(fc.oneof(fc.ipV4(), fc.constantFrom('65.55.234.192/26')), { minLength: 1, maxLength: 4 }),
    junk,
  )
  .map(([[portalSection, appConnector], optional, mail, bad]) => {
    const [portalHeading, [firstRow, ...otherRows]] = portalSection;
    // fast-check replays generated values while shrinking, so they are copied, never changed in place.
    const portalRows =
      bad === null ? [firstRow!, ...otherRows] : [[firstRow![0], [...firstRow![1], bad], firstRow![2]] as const, ...otherRows];
    const required = [[portalHeading, portalRows] as const, appConnector] as const;
    const sections = [...required, ...optional];
    const markdown = [
      '---\nms.date: 06/20/2024\n---\n# Network requirements\n',
      ...sections.map(
        ([heading, rows]) =>
          `${heading}\n\n|Data center|IP addresses|\n|----|----|\n${rows.map(([dc, cells, separator]) => `|${dc}|${cells.join(separator)}|`).join('\n')}\n`,
      ),
      `## Mail server\n\n${mail.map((address) => `- ${address}`).join('\n')}\n`,
      '## Next steps\n',
    ].join('\n');
    // What the portal table lists, as the page's reader would have to see it.
    const portal = portalRows.flatMap(([, cells]) => cells.flatMap((cell) => tryParseCidr(cell) ?? []));
    return { markdown, portal, junk: bad };
  });

describe('issue 6 group 8: property-based fuzzing of every parser of outside data', () => {
  it('parseCidr: random text and near-miss addresses give a canonical CIDR or invalid-cidr', () => {
    const nearMiss = fc
      .tuple(
        fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.string({ maxLength: 20 })),
        fc.option(fc.oneof(fc.nat(200).map(String), fc.string({ maxLength: 4 }))),
      )
      .map(([address, prefix]) => (prefix === null ? address : `${address}/${prefix}`));
    fc.assert(
      fc.property(fc.oneof(nearMiss, fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 })), (text) => {
        const outcome = typedOutcome(() => parseCidr(text));
        if (outcome.ok) {
          expectCanonical([outcome.value]);
          // Canonical text parses to itself: firewalls and the state store see one spelling per network.
          expect(parseCidr(outcome.value)).toBe(outcome.value);
        } else {
          expect(outcome.error.code).toBe('invalid-cidr');
        }
      }),
      settings,
    );
  });

  it('parseCasPage: random markdown never crashes; a page it accepts lists canonical CIDRs in known sections', () => {
    fc.assert(
      fc.property(randomMarkdown, (markdown) => {
        const outcome = typedOutcome(() => parseCasPage(markdown));
        if (!outcome.ok) return;
        expectCanonical(outcome.value.entries.map((e) => e.cidr));
        for (const entry of outcome.value.entries) expect(CAS_SECTIONS).toContain(entry.section);
      }),
      settings,
    );
  });

  it('parseCasPage: random pages with the real layout: junk is named, accepted pages are canonical and complete', () => {
    let accepted = 0;
    fc.assert(
      fc.property(structuredPage, ({ markdown, portal, junk }) => {
        const outcome = typedOutcome(() => parseCasPage(markdown));
        if (!outcome.ok) return;
        if (junk !== null) {
          const named = outcome.value.issues.filter((issue) => issue.tokens.includes(junk));
          expect(named, 'an unreadable address is named in an issue scoped to its portal row').not.toEqual([]);
          expect(named[0]!.scopes.map((scope) => scope.section)).toEqual(['portal']);
        }
        accepted++;
        expectCanonical(outcome.value.entries.map((e) => e.cidr));
        expect(outcome.value.revision).toBe('2024-06-20');
        // An accepted page never drops an address its portal table lists.
        const read = new Set(outcome.value.entries.filter((e) => e.section === 'portal').map((e) => e.cidr));
        for (const cidr of portal) expect(read.has(cidr), `${cidr} read from the portal table`).toBe(true);
      }),
      settings,
    );
    expect(accepted).toBeGreaterThan(RUNS / 10);
  });

  it('parseCasPage: random mutations of the real page revisions never crash', () => {
    const mutated = fc
      .tuple(fc.constantFrom(...CAS_PAGES), mutations(fc.constantFrom('|', '\n', '<br>', ',', '#', '>', '0', '/', ' ', '---')))
      .map(([page, mutate]) => mutate(page));
    const seen = { accepted: 0, rejected: 0 };
    fc.assert(
      fc.property(mutated, (markdown) => {
        const outcome = typedOutcome(() => parseCasPage(markdown));
        seen[outcome.ok ? 'accepted' : 'rejected']++;
        if (outcome.ok) {
          expectCanonical(outcome.value.entries.map((e) => e.cidr));
          expect(outcome.value.sections.size).toBeGreaterThan(0);
        }
      }),
      { ...settings, numRuns: 500 },
    );
    // Both outcomes must occur, or the mutations were too mild (or too wild) to test anything.
    expect(seen.accepted).toBeGreaterThan(0);
    expect(seen.rejected).toBeGreaterThan(0);
    // 500 whole real pages took 22 to 42 s on the 2-core development machine: a budget, not a speed claim.
  }, 120_000);

  it('extractServiceTags: random JSON values never crash; what it selects is strings and numbers', () => {
    const documentLike = fc.record(
      {
        changeNumber: fc.oneof(fc.integer(), fc.string({ maxLength: 20 }), fc.double(), fc.constant(null)),
        cloud: fc.oneof(fc.string({ maxLength: 10 }), fc.integer()),
        values: fc.oneof(
          fc.array(
            fc.oneof(
              fc.record(
                { name: fc.oneof(fc.constantFrom(MCAS, AFD), fc.string({ maxLength: 8 }), fc.integer()), properties: fc.anything() },
                { requiredKeys: [] },
              ),
              fc.anything(),
            ),
            { maxLength: 6 },
          ),
          fc.anything(),
        ),
        nextLink: fc.oneof(fc.string({ maxLength: 20 }), fc.constant(null), fc.integer()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.oneof(documentLike, fc.jsonValue()).map((value) => JSON.stringify(value) ?? 'null'),
          fc.string({ maxLength: 100 }),
        ),
        (text) => {
          const outcome = typedOutcome(() => extractServiceTags(text, [MCAS, AFD]));
          if (outcome.ok) {
            expect(Number.isFinite(outcome.value.fileChangeNumber)).toBe(true);
            for (const tag of outcome.value.tags) {
              expect([MCAS, AFD]).toContain(tag.name);
              for (const prefix of tag.prefixes) expect(typeof prefix).toBe('string');
            }
            const summary = typedOutcome(() => summariseServiceTags([MCAS, AFD], outcome.value));
            if (summary.ok) expectCanonical(summary.value.entries.map((e) => e.cidr));
          }
        },
      ),
      settings,
    );
  });

  it('extractServiceTags: mutated slices of the real file never crash', () => {
    const mutated = mutations(fc.constantFrom('"', ',', '[', ']', '{', '}', ':', '0', 'null', '/')).map((mutate) =>
      mutate(SERVICE_TAGS_SLICE),
    );
    fc.assert(
      fc.property(mutated, (text) => {
        const wanted = [AFD, `${MCAS}.WestEurope`];
        const outcome = typedOutcome(() => summariseServiceTags(wanted, extractServiceTags(text, wanted)));
        if (outcome.ok) {
          expectCanonical(outcome.value.entries.map((e) => e.cidr));
          // Anything short of every wanted tag read cleanly is never a complete observation.
          if (outcome.value.status === 'ok') expect(outcome.value.errors).toEqual([]);
          if (outcome.value.entries.length === 0) expect(outcome.value.status).toBe('error');
        }
      }),
      { ...settings, numRuns: 500 },
    );
  });

  it('parseConfig: random JSON values give a config or a ConfigError naming key paths', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const outcome = typedOutcome(() => parseConfig(value));
        if (!outcome.ok) expect(outcome.error).toBeInstanceOf(ConfigError);
      }),
      settings,
    );
  });

  it('parseConfig: the sample config with one random value replaced anywhere never crashes', () => {
    const sample = JSON.parse(SAMPLE_CONFIG) as unknown;
    const paths = jsonPaths(sample);
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.jsonValue({ maxDepth: 2 }), (path, replacement) => {
        const outcome = typedOutcome(() => parseConfig(replaceAt(sample, path, replacement)));
        if (outcome.ok) {
          for (const target of outcome.value.targets) {
            if (target.type === 'static') expectCanonical(target.entries);
            if (target.type === 'outsystems') expectCanonical(target.vpnRanges);
          }
        }
      }),
      settings,
    );
  });

  it('parseConfigText: mutated sample text never crashes', () => {
    const mutated = mutations(fc.constantFrom('"', ',', '{', '}', '[', ']', ':', '\n', '\\', '\u0000')).map((mutate) =>
      mutate(SAMPLE_CONFIG),
    );
    fc.assert(
      fc.property(fc.oneof(mutated, fc.string({ maxLength: 200 })), (text) => {
        typedOutcome(() => parseConfigText(text));
      }),
      settings,
    );
  });

  it('parseCheckQuery: random query strings give target ids or bad-request', () => {
    const param = fc.tuple(
      fc.oneof(fc.constantFrom('target', 'code', 'targets', 'Target'), fc.string({ maxLength: 8 })),
      fc.oneof(fc.constantFrom('prod', 'cas-docs', 'a', '-x', ''), fc.string({ maxLength: 12 })),
    );
    const query = fc
      .array(param, { maxLength: 60 })
      .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'));
    const raw = fc.string({ maxLength: 300 });
    fc.assert(
      fc.property(fc.oneof(query, raw), (search) => {
        const outcome = typedOutcome(() => parseCheckQuery(`https://func.example/api/check?${search}`));
        if (outcome.ok) {
          expect(new Set(outcome.value.targetIds).size).toBe(outcome.value.targetIds.length);
          for (const id of outcome.value.targetIds) expect(id).toMatch(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/);
        } else {
          expect(outcome.error.code).toBe('bad-request');
        }
      }),
      settings,
    );
  });

  it('parseCheckQuery: any string as the whole URL gives a typed error, never a TypeError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 120 }), fc.webUrl({ withQueryParameters: true, withFragments: true })), (url) => {
        typedOutcome(() => parseCheckQuery(url));
      }),
      settings,
    );
  });

  it('parseCheckBody: random bodies give target ids or bad-request', () => {
    const bodyLike = fc.record(
      {
        targets: fc.oneof(
          fc.array(fc.oneof(fc.constantFrom('prod', 'cas-docs'), fc.string({ maxLength: 10 }), fc.integer())),
          fc.anything(),
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          bodyLike.map((b) => JSON.stringify(b)),
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 200 }),
          fc.string({ minLength: 4090, maxLength: 4200 }),
        ),
        (text) => {
          const outcome = typedOutcome(() => parseCheckBody(text));
          if (outcome.ok) for (const id of outcome.value.targetIds) expect(id).toMatch(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/);
          else expect(outcome.error.code).toBe('bad-request');
        },
      ),
      settings,
    );
  });
});

type JsonPath = ReadonlyArray<string | number>;

function jsonPaths(value: unknown, at: JsonPath = []): JsonPath[] {
  const here = [at];
  if (Array.isArray(value)) return [...here, ...value.flatMap((item, index) => jsonPaths(item, [...at, index]))];
  if (typeof value === 'object' && value !== null)
    return [...here, ...Object.entries(value).flatMap(([key, item]) => jsonPaths(item, [...at, key]))];
  return here;
}

function replaceAt(value: unknown, path: JsonPath, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path;
  if (Array.isArray(value)) return value.map((item, index) => (index === head ? replaceAt(item, rest, replacement) : item));
  const record = value as Record<string, unknown>;
  return { ...record, [head as string]: replaceAt(record[head as string], rest, replacement) };
}
