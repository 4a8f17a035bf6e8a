// The closing sections of the PR body: the files with their diffs, holds a person released, guard verdicts, run details.
import { structuredPatch } from 'diff';
import type { TargetDrift } from '../drift/drift.js';
import { escapeMarkdown } from './inert.js';
import type { FileText, PullRequestInput } from './pr-text.js';
import { fenceFor, humanTime, outcomeText } from './pr-text-words.js';

/** Files whose diff has at most this many changed lines get it, folded. */
const DIFF_MAX_CHANGED_LINES = 20;

/** A run of lines; truncatable runs (address lists, table rows, list items) can be cut to a number of rows with a closing note. */
export type Block =
  { readonly lines: readonly string[] } | { readonly rows: readonly string[]; readonly more: (hidden: number) => string[] };

/** Only the files this PR adds, changes and removes, with their line counts; a small change comes with its diff, folded. */
export function fileBlocks(files: readonly FileText[]): Block[] {
  if (files.length === 0) return [];
  const blocks: Block[] = [{ lines: ['### Files', '', '| File | Lines |', '| --- | --- |'] }];
  const patches = files.map((file) => ({
    file,
    patch: structuredPatch(file.path, file.path, file.before ?? '', file.after ?? '', '', '', { context: 1 }),
  }));
  const counted = patches.map(({ file, patch }) => {
    const lines = patch.hunks.flatMap((hunk) => hunk.lines);
    return {
      file,
      patch,
      plus: lines.filter((line) => line.startsWith('+')).length,
      minus: lines.filter((line) => line.startsWith('-')).length,
    };
  });
  blocks.push({
    rows: counted.map(
      ({ file, plus, minus }) =>
        `| ${escapeMarkdown(file.path)}${file.before === null ? ' (new)' : file.after === null ? ' (removed)' : ''} | +${plus} −${minus} |`,
    ),
    more: (hidden) => [`| … and ${hidden} more files | |`],
  });
  blocks.push({ lines: [''] });
  for (const { file, patch, plus, minus } of counted) {
    if (plus + minus === 0 || plus + minus > DIFF_MAX_CHANGED_LINES) continue;
    const diff = patch.hunks.flatMap((hunk) => [
      `@@ -${hunk.oldStart},${hunk.oldLines} +${hunk.newStart},${hunk.newLines} @@`,
      ...hunk.lines,
    ]);
    const fence = fenceFor(diff);
    blocks.push({
      lines: [`<details><summary>Diff of ${escapeMarkdown(file.path)}</summary>`, '', `${fence}diff`, ...diff, fence, '', '</details>', ''],
    });
  }
  return blocks;
}

/** Changes a guard held and a person released: the reviewer sees who let them past the guards, and when. */
export function approvalBlocks(drifts: readonly TargetDrift[]): Block[] {
  const approved = drifts.filter((drift) => drift.report.approval);
  if (approved.length === 0) return [];
  const rows = approved.map(({ report }) => {
    const approval = report.approval!;
    const by = approval.by ? ` by ${escapeMarkdown(approval.by, 80)}` : '';
    const guards = report.verdicts.filter((verdict) => verdict.outcome === 'hold').map((verdict) => verdict.guard);
    return `- **${escapeMarkdown(report.id)}**: held by ${guards.join(', ')}; approved${by} via ${approval.source} at ${humanTime(approval.at)} (held change ${escapeMarkdown(approval.fingerprint)})`;
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

/** Guard verdicts: holds in the open (once), passes folded, since a pass leaves nothing to decide. */
export function verdictBlocks(drifts: readonly TargetDrift[]): Block[] {
  const rows = drifts.flatMap((drift) => drift.report.verdicts.map((verdict) => ({ drift, verdict })));
  const table = (shown: typeof rows): Block[] => [
    { lines: ['| Target | Guard | Outcome | Detail |', '| --- | --- | --- | --- |'] },
    {
      rows: shown.map(
        ({ drift, verdict }) =>
          `| ${escapeMarkdown(drift.report.id)} | ${verdict.guard} | ${outcomeText(verdict)} | ${escapeMarkdown(verdict.message, 1_000)} |`,
      ),
      more: (hidden) => ['', `… and ${hidden} more verdicts.`],
    },
  ];
  const holds = rows.filter((row) => row.verdict.outcome === 'hold');
  // A held target's holds are its entry under "Held back", word for word; only released holds are left to show here.
  const unexplained = holds.filter((row) => row.drift.report.status !== 'held');
  const passes = rows.filter((row) => row.verdict.outcome === 'pass');
  const blocks: Block[] = unexplained.length > 0 ? [{ lines: ['### Guards that hold', ''] }, ...table(unexplained), { lines: [''] }] : [];
  if (passes.length === 0) return blocks;
  const summary = holds.length > 0 ? `the other ${passes.length} guard verdicts pass` : `Guard verdicts: all ${passes.length} pass`;
  return [...blocks, { lines: [`<details><summary>${summary}</summary>`, ''] }, ...table(passes), { lines: ['', '</details>', ''] }];
}

/** For machines and for the curious: the run, as JSON, folded. */
export function runDetails(input: PullRequestInput): Block[] {
  const details = {
    config: input.configName,
    runId: input.runId,
    configFingerprint: input.configFingerprint,
    ...(input.checkedAt ? { checkedAt: input.checkedAt } : {}),
    targets: input.drifts.map((drift) => ({
      id: drift.report.id,
      status: drift.report.status,
      added: drift.report.added.length,
      removed: drift.report.removed.length,
      ...(drift.report.observedAt ? { observedAt: drift.report.observedAt } : {}),
    })),
  };
  // One target a line keeps it short; JSON may escape any character, and an escaped backtick cannot close the fence.
  const { targets, ...run } = details;
  const json = [
    '{',
    ...Object.entries(run).map(([key, value]) => `  ${JSON.stringify(key)}: ${JSON.stringify(value)},`),
    '  "targets": [',
    ...targets.map((target, index) => `    ${JSON.stringify(target)}${index < targets.length - 1 ? ',' : ''}`),
    '  ]',
    '}',
  ].map((line) => line.replace(/`/g, '\\u0060'));
  return [{ lines: ['<details><summary>Run details</summary>', '', '```json', ...json, '```', '', '</details>'] }];
}
