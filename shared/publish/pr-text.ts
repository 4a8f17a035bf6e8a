import type { Cidr } from '../ipset.js';
import { addedRows, removedRows, type TargetDrift } from '../drift.js';
import type { Problem } from '../problem.js';
import type { Verdict } from '../report.js';
import { describeEvidence } from '../sources/registry.js';
import type { EntryEvidence } from '../sources/source.js';

export interface PullRequestInput {
  readonly configName: string;
  readonly runId: string;
  readonly configFingerprint: string;
  /** Changed targets and any others worth a reviewer's attention (held, failed, with warnings), in config order. */
  readonly drifts: readonly TargetDrift[];
  /** Repository paths of the rule files this PR changes. */
  readonly files: readonly string[];
  /**
   * The change the files really make against the base branch (read back from the rendered files), and the entries
   * on the base branch no target of this config produced, which stay. The title counts this change.
   */
  readonly change?: { readonly added: readonly Cidr[]; readonly removed: readonly Cidr[]; readonly kept: readonly Cidr[] };
}

export interface PullRequestText {
  readonly title: string;
  readonly body: string;
}

/**
 * GitHub rejects bodies above 65,536 characters. The publisher cuts any longer body at this same limit (a body
 * from here never is), so a body rendered within it reaches GitHub as rendered.
 */
export const MAX_BODY_CHARS = 65_000;
export const MAX_TITLE_CHARS = 120;
/** Upstream strings are cut to this many characters, so one odd heading cannot fill the body. */
const MAX_FIELD_CHARS = 300;
const MAX_EVIDENCE_PER_ROW = 3;
const NEW_FRONT_END = 'new-front-end';

/**
 * The title and body of the drift pull request. Deterministic (same input, same bytes), because the
 * publisher compares bodies to decide whether the open PR needs an update.
 */
export function renderPullRequest(input: PullRequestInput): PullRequestText {
  return { title: renderTitle(input.drifts, input.change), body: renderBody(input) };
}

/**
 * Makes text from outside (hostnames, page headings, messages) inert in a GitHub markdown body or table cell:
 * one line, no markdown or HTML syntax, no @mention, issue reference or bare link that GitHub would act on.
 */
export function escapeMarkdown(text: string, maxChars = MAX_FIELD_CHARS): string {
  const oneLine = text
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const characters = [...oneLine];
  const short = characters.length > maxChars ? `${characters.slice(0, maxChars - 1).join('')}…` : oneLine;
  return (
    short
      .replace(/[\\`*_{}[\]()#!|~&$^]/g, '\\$&')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      // A zero-width space keeps the text readable while breaking GitHub's mention, reference and autolink patterns.
      .replace(/@/g, '@\u200b')
      .replace(/#(?=\d)/g, '#\u200b')
      .replace(/:\/\//g, ':\u200b//')
      .replace(/\bwww\./gi, (match) => `${match.slice(0, 3)}\u200b.`)
  );
}

function renderTitle(drifts: readonly TargetDrift[], change: PullRequestInput['change']): string {
  const changed = drifts.filter((drift) => drift.changed);
  if (changed.length === 0) return 'allowlist: no address changes';
  const added = change ? change.added.length : changed.reduce((sum, drift) => sum + drift.report.added.length, 0);
  const removed = change ? change.removed.length : changed.reduce((sum, drift) => sum + drift.report.removed.length, 0);
  const head = `allowlist: +${added} -${removed} across `;
  const ids = changed.map((drift) => oneLine(drift.report.id));
  for (let shown = ids.length; shown >= 1; shown -= 1) {
    const hidden = ids.length - shown;
    const title = `${head}${ids.slice(0, shown).join(', ')}${hidden > 0 ? ` and ${hidden} more` : ''}`;
    if (title.length <= MAX_TITLE_CHARS) return title;
  }
  return `${head}${ids.length} targets`;
}

/** A run of lines; truncatable runs (table rows, list items) can be cut to a number of rows with a closing note. */
type Block = { readonly lines: readonly string[] } | { readonly rows: readonly string[]; readonly more: (hidden: number) => string[] };

function renderBody(input: PullRequestInput): string {
  const head = bodyBlocks(input);
  const tail = runDetails(input);
  const longest = Math.max(0, ...head.map((block) => ('rows' in block ? block.rows.length : 0)));
  const whole = assemble([...head, ...tail], longest);
  if (whole.length <= MAX_BODY_CHARS) return whole;
  // Find the most rows per table that still fits; every table is cut at the same row count.
  let fits = -1;
  let low = 0;
  let high = longest - 1;
  while (low <= high) {
    const middle = Math.floor((low + high) / 2);
    if (assemble([...head, ...tail], middle).length <= MAX_BODY_CHARS) {
      fits = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  if (fits >= 0) return assemble([...head, ...tail], fits);
  return cutAtLine(assemble(head, 0), assemble(tail, 0));
}

/** Only when even the untruncatable parts are too long (thousands of targets): keep whole lines and the run details. */
function cutAtLine(head: string, tail: string): string {
  const note = '\n… the rest of this description was cut to fit GitHub’s size limit; the files in this PR are complete.\n\n';
  const room = MAX_BODY_CHARS - note.length - tail.length;
  const cut = head.lastIndexOf('\n', room);
  return `${head.slice(0, Math.max(0, cut))}${note}${tail}`;
}

function assemble(blocks: readonly Block[], maxRows: number): string {
  const lines: string[] = [];
  for (const block of blocks) {
    if ('lines' in block) {
      lines.push(...block.lines);
    } else {
      lines.push(...block.rows.slice(0, maxRows));
      if (block.rows.length > maxRows) lines.push(...block.more(block.rows.length - maxRows));
    }
  }
  return `${lines.join('\n')}\n`;
}

function bodyBlocks(input: PullRequestInput): Block[] {
  const { drifts } = input;
  const changed = drifts.filter((drift) => drift.changed);
  const held = drifts.filter((drift) => drift.report.status === 'held');
  const failed = drifts.filter((drift) => drift.report.status === 'error');
  const partial = drifts.filter((drift) => drift.report.status === 'partial');
  const frontEnds = drifts.flatMap((drift) =>
    drift.report.warnings.filter((w) => w.code === NEW_FRONT_END).map((w) => [drift, w] as const),
  );
  const otherWarnings = drifts.flatMap((drift) =>
    drift.report.warnings.filter((w) => w.code !== NEW_FRONT_END).map((w) => [drift, w] as const),
  );

  const blocks: Block[] = [
    {
      lines: [
        `## Allowlist drift: ${escapeMarkdown(input.configName)}`,
        '',
        'This pull request was opened by **allowlist-drift**, which regularly re-checks the public addresses that this ' +
          'repository’s firewall rules allow (OutSystems Cloud front-ends, Microsoft Defender for Cloud Apps, Azure service tags). ' +
          'Every address added below was confirmed by its source in this check; every address removed was missing from several ' +
          'complete checks in a row. Merging approves the change: the merged lists become the new baseline. Closing the PR declines ' +
          'this exact proposal.',
        '',
      ],
    },
  ];

  if (frontEnds.length > 0) {
    blocks.push({
      lines: ['> [!WARNING]', '> **New OutSystems front-end server.** Its address is not allowlisted until it is added to the config:'],
    });
    blocks.push({
      rows: frontEnds.map(([drift, warning]) => `> - **${escapeMarkdown(drift.report.id)}**: ${escapeMarkdown(warning.message, 1_000)}`),
      more: (hidden) => [`> - … and ${hidden} more`],
    });
    blocks.push({ lines: [''] });
  }

  blocks.push({ lines: ['### Changes', ''] });
  if (changed.length === 0) blocks.push({ lines: ['No target’s addresses change.', ''] });
  for (const drift of changed) blocks.push(...changeBlocks(drift));

  blocks.push(...approvalBlocks(drifts));

  if (held.length > 0) {
    blocks.push({
      lines: [
        '### Held back, not in this PR',
        '',
        'A guard stopped these targets; their files keep what this PR already proposed for them, or the approved baseline, until someone looks:',
        '',
      ],
    });
    blocks.push({
      rows: held.map((drift) => {
        const reasons = drift.report.verdicts
          .filter((verdict) => verdict.outcome === 'hold')
          .map((verdict) => `${verdict.guard}: ${escapeMarkdown(verdict.message, 1_000)}`);
        return `- **${escapeMarkdown(drift.report.id)}** (${drift.report.type}): held back, not in this PR. ${reasons.join('; ')}`;
      }),
      more: (hidden) => [`- … and ${hidden} more held targets`],
    });
    blocks.push({ lines: [''] });
  }

  if (failed.length > 0) {
    blocks.push({
      lines: [
        '### Checks that failed',
        '',
        'Nothing is removed for these targets because of this check; addresses they did return are proposed above:',
        '',
      ],
    });
    blocks.push({
      rows: failed.flatMap((drift) =>
        (drift.report.errors.length > 0 ? drift.report.errors : [{ code: 'unknown', message: 'the check failed' }]).map(
          (error) => `- **${escapeMarkdown(drift.report.id)}**: ${problemText(error)}`,
        ),
      ),
      more: (hidden) => [`- … and ${hidden} more errors`],
    });
    blocks.push({ lines: [''] });
  }

  if (partial.length > 0) {
    blocks.push({
      lines: [
        '### Checks that were partial',
        '',
        'Part of these sources could not be read. What was read is applied above; the approved addresses of the part that was not read are kept, neither counted missing nor removed. The warnings below say what was not read and why:',
        '',
      ],
    });
    blocks.push({
      rows: partial.map((drift) => {
        const errors = drift.report.errors.map(problemText).join('; ');
        return `- **${escapeMarkdown(drift.report.id)}** (${drift.report.type}): partial${errors === '' ? '' : `; ${errors}`}`;
      }),
      more: (hidden) => [`- … and ${hidden} more partial checks`],
    });
    blocks.push({ lines: [''] });
  }

  blocks.push({ lines: ['### Guard verdicts', '', '| Target | Guard | Outcome | Detail |', '| --- | --- | --- | --- |'] });
  blocks.push({
    rows: verdictRows(drifts),
    more: (hidden) => ['', `… and ${hidden} more verdicts.`],
  });
  blocks.push({ lines: [''] });

  if (otherWarnings.length > 0) {
    blocks.push({ lines: ['### Warnings', ''] });
    blocks.push({
      rows: otherWarnings.map(([drift, warning]) => `- **${escapeMarkdown(drift.report.id)}**: ${problemText(warning)}`),
      more: (hidden) => [`- … and ${hidden} more warnings`],
    });
    blocks.push({ lines: [''] });
  }

  const kept = input.change?.kept ?? [];
  if (kept.length > 0) {
    blocks.push({
      lines: [
        '### Kept, not managed here',
        '',
        `These entries are in the files on the base branch, but no target of config \`${escapeMarkdown(input.configName)}\` produced them (a hand edit, or another config writing the same file). They stay as they are:`,
        '',
      ],
    });
    blocks.push({ rows: kept.map((cidr) => `- ${cidr}`), more: (hidden) => [`- … and ${hidden} more`] });
    blocks.push({ lines: [''] });
  }

  blocks.push({ lines: ['### Files', ''] });
  blocks.push({ rows: input.files.map((path) => `- ${escapeMarkdown(path)}`), more: (hidden) => [`- … and ${hidden} more files`] });
  blocks.push({ lines: [''] });
  return blocks;
}

function changeBlocks(drift: TargetDrift): Block[] {
  const { report } = drift;
  const blocks: Block[] = [
    { lines: [`#### ${escapeMarkdown(report.id)} (${report.type}): ${report.added.length} added, ${report.removed.length} removed`, ''] },
  ];
  if (report.added.length > 0) {
    blocks.push({ lines: ['| Added | Evidence | First seen |', '| --- | --- | --- |'] });
    blocks.push({
      rows: addedRows(drift).map(
        (row) => `| ${row.cidr} | ${evidenceText(row.evidence)} | ${row.firstSeen ? escapeMarkdown(row.firstSeen) : 'now'} |`,
      ),
      more: (hidden) => ['', `… and ${hidden} more added ranges, not listed here; the files in this PR hold all of them.`],
    });
    blocks.push({ lines: [''] });
  }
  if (report.removed.length > 0) {
    blocks.push({ lines: ['| Removed | Missing from consecutive complete checks |', '| --- | --- |'] });
    blocks.push({
      rows: removedRows(drift).map((row) => `| ${row.cidr} | ${row.misses} |`),
      more: (hidden) => ['', `… and ${hidden} more removed ranges, not listed here; the files in this PR reflect all of them.`],
    });
    blocks.push({ lines: [''] });
  }
  if (report.pendingRemoval.length > 0) {
    blocks.push({ lines: ['Missing but not removed yet (kept until they miss enough complete checks in a row):', ''] });
    blocks.push({
      rows: report.pendingRemoval.map(
        (pending) => `- ${pending.cidr}: missed ${pending.misses} ${pending.misses === 1 ? 'check' : 'checks'}`,
      ),
      more: (hidden) => [`- … and ${hidden} more`],
    });
    blocks.push({ lines: [''] });
  }
  return blocks;
}

/** Changes a guard held and a person released: the reviewer sees who let them past the guards, and when. */
function approvalBlocks(drifts: readonly TargetDrift[]): Block[] {
  const approved = drifts.filter((drift) => drift.report.approval);
  if (approved.length === 0) return [];
  const rows = approved.map(({ report }) => {
    const approval = report.approval!;
    const by = approval.by ? ` by ${escapeMarkdown(approval.by, 80)}` : '';
    const guards = report.verdicts.filter((verdict) => verdict.outcome === 'hold').map((verdict) => verdict.guard);
    return `- **${escapeMarkdown(report.id)}**: held by ${guards.join(', ')}; approved${by} via ${approval.source} at ${escapeMarkdown(approval.at)} (held change ${escapeMarkdown(approval.fingerprint)})`;
  });
  return [
    {
      lines: [
        '### Released from a hold',
        '',
        'A guard held these changes; a person approved exactly the change shown below, so it is in this PR:',
        '',
      ],
    },
    { rows, more: (hidden) => [`- … and ${hidden} more released targets`] },
    { lines: [''] },
  ];
}

function runDetails(input: PullRequestInput): Block[] {
  return [
    {
      lines: [
        '<details>',
        '<summary>Run details</summary>',
        '',
        `- Config: ${escapeMarkdown(input.configName)}`,
        `- Run id: ${escapeMarkdown(input.runId)}`,
        `- Config fingerprint: ${escapeMarkdown(input.configFingerprint)}`,
        '',
        '</details>',
      ],
    },
  ];
}

/** Holds first, so a reviewer sees what was stopped before what passed. */
function verdictRows(drifts: readonly TargetDrift[]): string[] {
  const rows = drifts.flatMap((drift) => drift.report.verdicts.map((verdict) => ({ drift, verdict })));
  const ordered = [...rows.filter((row) => row.verdict.outcome === 'hold'), ...rows.filter((row) => row.verdict.outcome === 'pass')];
  return ordered.map(
    ({ drift, verdict }) =>
      `| ${escapeMarkdown(drift.report.id)} | ${verdict.guard} | ${outcomeText(verdict)} | ${escapeMarkdown(verdict.message, 1_000)} |`,
  );
}

function outcomeText(verdict: Verdict): string {
  return verdict.outcome === 'hold' ? '**hold**' : 'pass';
}

function problemText(problem: Problem): string {
  return `${escapeMarkdown(problem.code, 80)}: ${escapeMarkdown(problem.message, 1_000)}`;
}

function evidenceText(evidence: readonly EntryEvidence[]): string {
  if (evidence.length === 0) return 'none recorded';
  // Each source describes its own kinds; escapeMarkdown makes what came from upstream inert.
  const shown = evidence.slice(0, MAX_EVIDENCE_PER_ROW).map((item) => describeEvidence(item, (text) => escapeMarkdown(text)));
  const hidden = evidence.length - shown.length;
  return hidden > 0 ? `${shown.join('; ')}; and ${hidden} more` : shown.join('; ');
}

/** Titles are plain text, but a line break would still end them early. */
function oneLine(text: string): string {
  return text.replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, ' ');
}
