import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, type CasDocsTarget } from '../../../shared/config.js';
import { selectCasEntries } from '../../../shared/sources/cas-docs/index.js';
import { parseCasPage, type CasPage } from '../../../shared/sources/cas-docs/page.js';
import { FIXTURES_DIR } from '../../peers/http.js';

/**
 * The sample config is what `npm start` runs first: a section the page no longer has would make its target partial
 * on every run (and the exit status 1 forever). Today's page is the newest revision among the verbatim upstream
 * captures (test/fixtures/README.md), told by the page's own date; the hand-written variants beside them carry
 * invented dates, so they are left out by name.
 */
function newestCasPage(): { page: CasPage; file: string } {
  const folder = join(FIXTURES_DIR, 'cas');
  const candidates = readdirSync(folder)
    .filter((name) => name.startsWith('network-requirements_'))
    .map((name) => join(folder, name));
  const pages = candidates.flatMap((file) => {
    const page = parseCasPage(readFileSync(file, 'utf8'));
    return page.revision && page.sections.size > 0 ? [{ page, file }] : [];
  });
  return pages.reduce((newest, candidate) => (candidate.page.revision! > newest.page.revision! ? candidate : newest));
}

describe("the sample config against today's CAS page", async () => {
  const config = await loadConfig({ path: resolve(import.meta.dirname, '../../../allowlist-drift.config.json') });
  const casTargets = config.targets.filter((target): target is CasDocsTarget => target.type === 'cas-docs');
  const { page, file } = newestCasPage();

  it('reads the newest revision the upstream documents hold', () => {
    // ms.date of the 2024-06-20 revision; older revisions (2017, 2018) still had the DLP section.
    expect(page.revision! >= '2024-02-29', file).toBe(true);
    expect(casTargets.length).toBeGreaterThan(0);
  });

  it.each(casTargets.map((target) => [target.id, target] as const))(
    '%s selects only sections and data centers the page has',
    (_id, target) => {
      const selection = selectCasEntries(page, target);
      expect(selection.warnings.map((w) => w.message)).toEqual([]);
      expect(selection.unknownScopes).toEqual([]);
      expect(selection.incomplete).toBe(false);
      expect(selection.entries.length).toBeGreaterThan(0);
      if (target.sections !== '*') for (const section of target.sections) expect([...page.sections]).toContain(section);
    },
  );
});
