import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { applyPatch, parsePatch } from 'diff';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../shared/config.js';
import type { Report } from '../../shared/report.js';
import { routes, sharedFile } from '../peers/http.js';
import { CAS_PATH, TAGS_PATH, startHarness, type Harness } from './harness.js';

/**
 * A dry run shows exactly what a full run would publish: the sample config (the one `npm start` runs) pointed at
 * the local peers, a dry run, then the full run, whose pushed files must be the dry run's diff applied to the base
 * branch, byte for byte.
 */

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const SAMPLE = resolve(import.meta.dirname, '../../allowlist-drift.config.json');
const TEMPLATE_PATH = 'hosts/dlp-gateway/iptables.rules';
const TEMPLATE =
  '#!/bin/sh\n# Defender for Cloud Apps -> stunnel -> ICAP\n# BEGIN allowlist-drift:stunnel\n# END allowlist-drift:stunnel\n';
const FE1 = '52.16.1.10';
const FE2 = '52.16.2.20';
const FE2_NEW = '52.16.2.21';
/** The sample's config name ("example") names the PR branch. */
const BRANCH = 'allowlist-drift/example';

/** The sample as it is, with only where things are fetched from changed: the CAS page, the service tags, DNS, GitHub. */
function sampleOnPeers(change: (sample: ConfigInput) => ConfigInput = (sample) => sample): Parameters<typeof startHarness>[0] {
  return {
    config: (defaults, { dns, http, github }) => {
      const sample = JSON.parse(readFileSync(SAMPLE, 'utf8')) as ConfigInput & { targets: Array<Record<string, unknown>> };
      return change({
        ...sample,
        targets: sample.targets.map((target) =>
          target.type === 'cas-docs'
            ? { ...target, url: `${http.url}${CAS_PATH}` }
            : target.type === 'service-tags'
              ? { ...target, url: `${http.url}${TAGS_PATH}` }
              : target,
        ) as ConfigInput['targets'],
        dns: { servers: [dns.server], timeoutMs: 2_000, tries: 2, stabilityQueries: 1 },
        http: defaults.http,
        github: { ...sample.github!, owner: github.owner, repo: github.repo, base: github.base, apiUrl: github.url },
      });
    },
  };
}

const serviceTags = () => JSON.parse(sharedFile('fixtures/service-tags/ServiceTags_Public_2025-11-07.json').toString('utf8')) as unknown;

async function startSample(change?: (sample: ConfigInput) => ConfigInput): Promise<void> {
  h = await startHarness(sampleOnPeers(change));
  h.dns.set('acme-fe1.outsystemsenterprise.com', { kind: 'answer', a: [FE1] });
  h.dns.set('acme-fe2.outsystemsenterprise.com', { kind: 'answer', a: [FE2] });
  h.serveServiceTags(serviceTags());
  h.github.moveBase({ [TEMPLATE_PATH]: TEMPLATE }, 'The stunnel host script, with its allowlist-drift block');
}

/** Every configured file on the PR branch is the base branch's file with the dry run's patch for it applied. */
function expectPushedAsShown(dry: Report, baseSha: string): void {
  const patches = new Map(parsePatch(dry.pullRequest.diff ?? '').map((patch) => [patch.newFileName!.replace(/^b\//, ''), patch]));
  const pushed = new Set<string>();
  for (const file of h.config.files) {
    const before = h.github.readFile(baseSha, file.path);
    const after = h.github.readFile(BRANCH, file.path);
    if (after !== before) pushed.add(file.path);
    const patch = patches.get(file.path);
    expect(patch ? applyPatch(before ?? '', patch) : before, file.path).toBe(after);
  }
  expect([...patches.keys()].sort()).toEqual([...pushed].sort());
}

describe('engine: the dry run shows what the full run publishes', () => {
  it('on the sample config: the first PR, then an update against a base branch people edited', async () => {
    await startSample();
    const base = h.github.refSha('main')!;

    const dry = (await h.run({ dryRun: true })).report;
    expect(dry.errors).toEqual([]);
    expect(dry.targets.map((t) => [t.id, t.status])).toEqual([
      ['outsystems-prod', 'ok'],
      ['cas-connectors', 'ok'],
      ['cas-mail', 'ok'],
      ['cas-service-tag', 'ok'],
      ['partners', 'ok'],
    ]);
    expect(dry.pullRequest).toMatchObject({ action: 'dry-run', message: 'a full run would open a pull request changing 4 files' });
    expect(h.github.refSha(BRANCH)).toBeUndefined();

    const full = (await h.run()).report;
    expect(full.errors).toEqual([]);
    expect(full.pullRequest).toMatchObject({ action: 'created', number: 1 });
    expectPushedAsShown(dry, base);
    expect(h.github.readFile(BRANCH, TEMPLATE_PATH)).toContain('iptables -I INPUT -p tcp -s 13.64.196.27/32 --dport 11344 -j ACCEPT\n');

    // Merged and approved; then a person adds a line on main and a front-end gains an address.
    h.github.mergePullRequest(1);
    await h.run();
    const edited = `${h.github.readFile('main', 'edl/outsystems.txt')!}52.16.9.9/32\n`;
    const moved = h.github.moveBase({ 'edl/outsystems.txt': edited }, 'A hand edit');
    h.dns.set('acme-fe2.outsystemsenterprise.com', { kind: 'answer', a: [FE2, FE2_NEW] });

    const dryUpdate = (await h.run({ dryRun: true })).report;
    expect(dryUpdate.pullRequest.message).toBe('a full run would open a pull request changing 2 files');
    expect(dryUpdate.warnings.map((w) => w.code)).toEqual(['unmanaged-entries']);
    const fullUpdate = (await h.run()).report;
    expect(fullUpdate.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(fullUpdate.warnings).toEqual(dryUpdate.warnings);
    expectPushedAsShown(dryUpdate, moved);
    expect(h.github.readFile(BRANCH, 'edl/outsystems.txt')).toContain('52.16.9.9/32\n');
  }, 120_000);

  it('when a target sharing files errors on the first run: the dry run says which files wait for it, the full run publishes nothing', async () => {
    await startSample();
    const tags = JSON.stringify(serviceTags());
    h.http.handle((request, response) => {
      if (request.url === CAS_PATH) {
        response.writeHead(503, { 'content-type': 'text/plain' });
        response.end('unavailable');
        return;
      }
      return routes({ [TAGS_PATH]: { body: tags, contentType: 'application/json' } })(request, response);
    });

    const dry = (await h.run({ dryRun: true })).report;
    expect(dry.targets.filter((t) => t.status === 'error').map((t) => t.id)).toEqual(['cas-connectors', 'cas-mail']);
    expect(dry.pullRequest.diff).toBeUndefined();
    expect(dry.pullRequest.message).toBe(
      'a full run would publish nothing: drift found, but cas-connectors, cas-mail have no known addresses yet (no good check, nothing approved); ' +
        `publishing waits for them (allowlists/cas.json, ${TEMPLATE_PATH} hold their entries)`,
    );

    const sent = h.github.requests.length;
    const full = (await h.run()).report;
    expect(full.pullRequest).toEqual({
      action: 'none',
      message: dry.pullRequest.message!.replace('a full run would publish nothing: ', ''),
    });
    expect(h.github.requests.length).toBe(sent);
    expect(h.github.refSha(BRANCH)).toBeUndefined();
  });

  it('reports a template range too large for {ip} as the full run does, instead of throwing', async () => {
    // The app connectors' consecutive /32s aggregate into /28s of 16 addresses (20.73.240.208/28 in EU1, for one).
    await startSample((sample) => ({
      ...sample,
      files: sample.files!.map((file) =>
        file.format === 'template'
          ? { ...file, line: 'iptables -I INPUT -p tcp -s {ip} --dport 11344 -j ACCEPT', maxAddressesPerRange: 8 }
          : file,
      ),
    }));

    const dry = (await h.run({ dryRun: true })).report;
    expect(dry.errors.map((e) => e.code)).toEqual(['template-range-too-large']);
    expect(dry.errors[0]!.message).toContain('20.73.240.208/28 has 16 addresses and maxAddressesPerRange is 8');
    expect(dry.pullRequest).toEqual({
      action: 'dry-run',
      message: 'a full run would publish nothing: template-range-too-large (see the errors)',
    });

    const full = (await h.run()).report;
    expect(full.errors).toEqual(dry.errors);
    expect(full.pullRequest.action).toBe('none');
    expect(h.github.refSha(BRANCH)).toBeUndefined();
  });
});
