import { createHash } from 'node:crypto';
import { difference, type Cidr } from '../ipset.js';
import { addedRows, removedRows, type TargetDrift } from '../drift/drift.js';
import type { EntryEvidence } from '../sources/source.js';
import { codeSpan, escapeMarkdown } from './inert.js';
import { approvalBlocks, fileBlocks, runDetails, verdictBlocks, type Block } from './pr-text-closing.js';
import { cite, citationsText, humanTime, oneLine, placesText, problemText, uniqueBy, whyText, type RenderMode } from './pr-text-words.js';

export { humanTime };

export interface PullRequestInput {
  readonly configName: string;
  readonly runId: string;
  readonly configFingerprint: string;
  /** Changed targets and any others worth a reviewer's attention (held, failed, with warnings), in config order. */
  readonly drifts: readonly TargetDrift[];
  /** The rule files this PR changes, as on the base branch and as pushed; files it leaves as they are are not listed. */
  readonly files: readonly FileText[];
  /**
   * The change the files really make against the base branch (read back from the rendered files), and the entries
   * on the base branch no target of this config produced, which stay. The title counts this change.
   */
  readonly change?: {
    readonly added: readonly Cidr[];
    readonly removed: readonly Cidr[];
    readonly kept: readonly Cidr[];
    /** Confirmed removals an entry this config does not manage still allows (shared/engine/files.ts). */
    readonly stays?: readonly StaysAllowed[];
    /** Approved addresses missing from the base branch that this PR writes back (see `base-differs`). */
    readonly restored?: readonly Cidr[];
    /** The entries behind `kept`, as the files write them and whose they are: listed instead of `kept` when given. */
    readonly unmanaged?: readonly { readonly entry: string; readonly by: string; readonly path: string }[];
  };
  /** ISO time of the run; shown to people in UTC and kept in the run details. */
  readonly checkedAt?: string;
  /** More things a reviewer must look at first (e.g. approvals of held changes), shown in the warning block. */
  readonly attention?: readonly Attention[];
}

export interface StaysAllowed {
  readonly cidr: Cidr;
  readonly path: string;
  /** The covering entry as the file writes it, and whose it is as far as the file says. */
  readonly entry: string;
  readonly by: string;
}

export interface FileText {
  readonly path: string;
  /** Null when the file does not exist on the base branch. */
  readonly before: string | null;
  /** Null when this PR removes the file (a numbered file of a split set that emptied). */
  readonly after: string | null;
}

/** One line for the top warning block: who it is about, and what (both plain text; they are escaped here). */
export interface Attention {
  readonly subject: string;
  readonly message: string;
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
/** A group lists this many addresses on its own line; more are folded. */
const INLINE_ADDRESSES = 4;
const NEW_FRONT_END = 'new-front-end';

/**
 * The title and body of the drift pull request. Deterministic (same input, same bytes), because the
 * publisher compares bodies to decide whether the open PR needs an update.
 */
export function renderPullRequest(input: PullRequestInput): PullRequestText {
  return { title: renderTitle(input.drifts, input.change), body: renderBody(input, { stable: false }) };
}

/**
 * Identifies what the body says, not when or by which run: the same body rendered without the run's details,
 * the base branch's files or what varies between identical answers (a DNS TTL). A PR whose recorded text
 * fingerprint differs has a new warning, hold, approval or miss count to show; one whose fingerprint matches
 * needs no request to stay current.
 */
export function pullRequestTextFingerprint(input: Omit<PullRequestInput, 'files' | 'change' | 'runId' | 'checkedAt'>): string {
  const stable = renderBody({ ...input, runId: '', files: [] }, { stable: true });
  return createHash('sha256').update(stable).digest('hex').slice(0, 32);
}

function renderTitle(drifts: readonly TargetDrift[], change: PullRequestInput['change']): string {
  const changed = drifts.filter((drift) => drift.changed);
  if (changed.length === 0) return 'allowlist: no address changes';
  const { added, removed } = totals(drifts, change);
  const head = `allowlist: +${added} -${removed} across `;
  const ids = changed.map((drift) => oneLine(drift.report.id));
  for (let shown = ids.length; shown >= 1; shown -= 1) {
    const hidden = ids.length - shown;
    const title = `${head}${ids.slice(0, shown).join(', ')}${hidden > 0 ? ` and ${hidden} more` : ''}`;
    if (title.length <= MAX_TITLE_CHARS) return title;
  }
  return `${head}${ids.length} targets`;
}

function totals(drifts: readonly TargetDrift[], change: PullRequestInput['change']): { added: number; removed: number } {
  const changed = drifts.filter((drift) => drift.changed);
  return {
    added: change ? change.added.length : changed.reduce((sum, drift) => sum + drift.report.added.length, 0),
    removed: change ? change.removed.length : changed.reduce((sum, drift) => sum + drift.report.removed.length, 0),
  };
}

// --- assembling within GitHub's limit ---------------------------------------------------------------------------

function renderBody(input: PullRequestInput, mode: RenderMode): string {
  const head = bodyBlocks(input, mode);
  const tail = mode.stable ? [] : runDetails(input);
  const longest = Math.max(0, ...head.map((block) => ('rows' in block ? block.rows.length : 0)));
  const whole = assemble([...head, ...tail], longest);
  if (whole.length <= MAX_BODY_CHARS) return whole;
  // Find the most rows per list that still fits; every list is cut at the same row count, and says so.
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

// --- the sections, top to bottom ----------------------------------------------------------------------------------

function bodyBlocks(input: PullRequestInput, mode: RenderMode): Block[] {
  return [
    ...summaryBlocks(input, mode),
    ...attentionBlocks(input),
    ...addedBlocks(input.drifts, mode),
    ...removedBlocks(input.drifts, mode),
    ...pendingBlocks(input.drifts),
    ...heldBlocks(input.drifts),
    ...approvalBlocks(input.drifts),
    ...failedBlocks(input.drifts),
    ...partialBlocks(input.drifts),
    ...excludedBlocks(input.drifts),
    ...restoredBlocks(input),
    ...staysBlocks(input),
    ...keptBlocks(input),
    ...fileBlocks(input.files),
    ...verdictBlocks(input.drifts),
  ];
}

/** The first lines tell the story: the total, then per changed target its change and why. */
function summaryBlocks(input: PullRequestInput, mode: RenderMode): Block[] {
  const changed = input.drifts.filter((drift) => drift.changed);
  const { added, removed } = totals(input.drifts, input.change);
  const when = !mode.stable && input.checkedAt ? `, checked ${humanTime(input.checkedAt)}` : '';
  const blocks: Block[] = [
    {
      lines: [
        `**allowlist-drift** proposes **+${added} −${removed}** for config ${escapeMarkdown(input.configName)}${when}. ` +
          'Merging approves it as the new baseline; closing declines this exact proposal.',
        '',
      ],
    },
  ];
  if (changed.length === 0) {
    const carried = added + removed > 0 ? '; the files keep what this PR proposed before' : '';
    return [...blocks, { lines: [`No target’s addresses change in this check${carried}.`, ''] }];
  }
  blocks.push({ lines: ['| Target | Change | Why |', '| --- | --- | --- |'] });
  blocks.push({
    rows: changed.map(
      (drift) =>
        `| ${escapeMarkdown(drift.report.id)} (${drift.report.type}) | +${drift.report.added.length} −${drift.report.removed.length} | ${whyText(drift)} |`,
    ),
    more: (hidden) => [`| … and ${hidden} more targets | | |`],
  });
  blocks.push({ lines: [''] });
  return blocks;
}

/** Holds, partial or failed checks, warnings and anything else a reviewer must see first, in one alert. */
function attentionBlocks(input: PullRequestInput): Block[] {
  const items: string[] = [];
  for (const drift of input.drifts) {
    const id = `**${escapeMarkdown(drift.report.id)}**`;
    const { status } = drift.report;
    if (status === 'held') {
      const guards = drift.report.verdicts.filter((verdict) => verdict.outcome === 'hold').map((verdict) => verdict.guard);
      items.push(`> - ${id} is held back by ${guards.length === 1 ? 'guard' : 'guards'} ${guards.join(', ')}: not in this PR, see below.`);
    } else if (status === 'partial') {
      items.push(`> - ${id} was checked only in part: what was not read is kept, neither missed nor removed.`);
    } else if (status === 'error') {
      items.push(`> - ${id} could not be checked: nothing of it is removed, see below.`);
    }
    const { approval } = drift.report;
    if (approval) {
      items.push(
        `> - ${id} was held by a guard and is in this PR because a person approved exactly this change (${approval.source}${approval.by ? `, ${escapeMarkdown(approval.by, 80)}` : ''}, ${humanTime(approval.at)}).`,
      );
    }
    for (const warning of drift.report.warnings) {
      items.push(
        warning.code === NEW_FRONT_END
          ? `> - ${id}: ${escapeMarkdown(warning.message, 1_000)} Its address is not allowlisted until it is added to the config.`
          : `> - ${id}: ${problemText(warning)}`,
      );
    }
  }
  for (const item of input.attention ?? []) items.push(`> - **${escapeMarkdown(item.subject)}**: ${escapeMarkdown(item.message, 1_000)}`);
  if (items.length === 0) return [];
  return [
    { lines: ['> [!WARNING]', '> **Look at these first:**'] },
    { rows: items, more: (hidden) => [`> - … and ${hidden} more`] },
    { lines: [''] },
  ];
}

/**
 * Added ranges grouped by what states them, each statement once, with a link to its source. A target whose ranges
 * all come from one source (one page revision, one tag file, one resolver) names it once, above its groups.
 */
function addedBlocks(drifts: readonly TargetDrift[], mode: RenderMode): Block[] {
  const changed = drifts.filter((drift) => drift.changed && drift.report.added.length > 0);
  if (changed.length === 0) return [];
  const blocks: Block[] = [{ lines: ['### Added', ''] }];
  for (const drift of changed) {
    // First seen in this run, or in an earlier one (a hold, a PR not merged yet).
    const checkedAt = drift.nextRecord.lastCheckAt;
    const rows = addedRows(drift).map((row) => ({ ...row, citations: row.evidence.map(cite) }));
    const sources = new Set(rows.flatMap((row) => row.citations.map((citation) => citation.source)));
    const oneSource = sources.size === 1 && rows.every((row) => row.citations.length > 0) ? [...sources][0] : undefined;
    const groups = new Map<string, { statement: string; cidrs: Cidr[]; since: string | undefined }>();
    for (const row of rows) {
      const statement =
        row.citations.length === 0
          ? 'no evidence recorded'
          : oneSource === undefined
            ? citationsText(row.citations, mode)
            : placesText(row.citations, mode).join('; ');
      const group = groups.get(statement) ?? { statement, cidrs: [], since: undefined };
      group.cidrs.push(row.cidr);
      // Seen before this check (a hold, a failed publish): say since when.
      if (row.firstSeen && row.firstSeen !== checkedAt && (group.since === undefined || row.firstSeen < group.since))
        group.since = row.firstSeen;
      groups.set(statement, group);
    }
    const from = oneSource === undefined ? '' : `, from ${oneSource}`;
    blocks.push({ lines: [`**${escapeMarkdown(drift.report.id)}** (${drift.report.type}), +${drift.report.added.length}${from}:`, ''] });
    for (const group of groups.values()) {
      // Shown from the second run on, which is no news: no reason on its own to refresh the body.
      const since = group.since && !mode.stable ? ` (seen since ${humanTime(group.since)})` : '';
      blocks.push(...addressGroup(`- ${group.statement}${since}`, group.cidrs));
    }
    blocks.push({ lines: [''] });
  }
  return blocks;
}

/** One statement and its addresses: on the same line when few, folded below it when many. */
function addressGroup(statement: string, cidrs: readonly Cidr[]): Block[] {
  const count = `${cidrs.length} ${cidrs.length === 1 ? 'address' : 'addresses'}`;
  if (cidrs.length <= INLINE_ADDRESSES) return [{ lines: [`${statement}: ${cidrs.map((cidr) => `\`${cidr}\``).join(', ')}`] }];
  return [
    { lines: [`${statement}: ${count}`, '  <details><summary>the addresses</summary>', '', '  ```text'] },
    {
      rows: cidrs.map((cidr) => `  ${cidr}`),
      more: (hidden) => [`  … and ${hidden} more, left out to fit GitHub’s size limit; the files in this PR hold all of them`],
    },
    { lines: ['  ```', '', '  </details>'] },
  ];
}

/** Each removed range with where it stood, when it was last seen, how often it was missed, and what that place holds now. */
function removedBlocks(drifts: readonly TargetDrift[], mode: RenderMode): Block[] {
  const changed = drifts.filter((drift) => drift.changed && drift.report.removed.length > 0);
  if (changed.length === 0) return [];
  const blocks: Block[] = [{ lines: ['### Removed', ''] }];
  for (const drift of changed) {
    blocks.push({ lines: [`**${escapeMarkdown(drift.report.id)}** (${drift.report.type}), −${drift.report.removed.length}:`, ''] });
    blocks.push({
      rows: removedRows(drift).map((row) => `- \`${row.cidr}\`: ${provenance(drift, row.cidr, row.misses, mode)}`),
      more: (hidden) => [`- … and ${hidden} more removed ranges, not listed here; the files in this PR reflect all of them.`],
    });
    blocks.push({ lines: [''] });
  }
  return blocks;
}

function provenance(drift: TargetDrift, cidr: Cidr, misses: number, mode: RenderMode): string {
  const last = lastKnown(drift, cidr);
  const missed = `missing from ${misses} complete ${misses === 1 ? 'check' : 'checks'} in a row`;
  if (!last) return `${missed}; where it was last listed is not recorded.`;
  const citations = last.evidence.map(cite);
  const listed = citationsText(citations, mode);
  const seen = last.seenAt ? `, last seen ${humanTime(last.seenAt)}` : '';
  const now = uniqueBy(citations, (citation) => citation.place).map((citation) => {
    const holds = holdingNow(drift, citation.place);
    const shown = holds.slice(0, INLINE_ADDRESSES).map((held) => `\`${held}\``);
    const more = holds.length > shown.length ? ` and ${holds.length - shown.length} more` : '';
    return `${citation.place} now holds ${holds.length === 0 ? 'no address' : `${shown.join(', ')}${more}`}`;
  });
  return `last listed by ${listed}${seen}; ${missed}; ${now.join('; ')}.`;
}

/** The evidence an approved range had when last observed (kept by the record while it is missing). */
function lastKnown(drift: TargetDrift, cidr: Cidr): { evidence: readonly EntryEvidence[]; seenAt?: string } | undefined {
  const inside = (drift.nextRecord.missingEvidence ?? []).filter((entry) => difference([entry.cidr], [cidr]).length === 0);
  if (inside.length === 0) return undefined;
  const seen = inside.map((entry) => entry.seenAt).filter((time): time is string => time !== undefined);
  const latest = seen.sort().at(-1);
  return { evidence: inside.flatMap((entry) => entry.evidence), ...(latest ? { seenAt: latest } : {}) };
}

/** What this check observed at a place (a host, a page row, a tag), by the place its source cites. */
function holdingNow(drift: TargetDrift, place: string): Cidr[] {
  return Object.entries(drift.evidence)
    .filter(([, evidence]) => evidence.some((item) => cite(item).place === place))
    .map(([cidr]) => cidr as Cidr);
}

function pendingBlocks(drifts: readonly TargetDrift[]): Block[] {
  const pending = drifts.flatMap((drift) => drift.report.pendingRemoval.map((item) => ({ drift, item })));
  if (pending.length === 0) return [];
  return [
    { lines: ['Missing but not removed yet (kept until they miss enough complete checks in a row):', ''] },
    {
      rows: pending.map(
        ({ drift, item }) =>
          `- ${escapeMarkdown(drift.report.id)}: \`${item.cidr}\` missed ${item.misses} ${item.misses === 1 ? 'check' : 'checks'}`,
      ),
      more: (hidden) => [`- … and ${hidden} more`],
    },
    { lines: [''] },
  ];
}

function heldBlocks(drifts: readonly TargetDrift[]): Block[] {
  const held = drifts.filter((drift) => drift.report.status === 'held');
  if (held.length === 0) return [];
  return [
    {
      lines: [
        '### Held back, not in this PR',
        '',
        'A guard stopped these targets; their files keep what this PR already proposed for them, or the approved baseline, until someone looks:',
        '',
      ],
    },
    {
      rows: held.map((drift) => {
        const reasons = drift.report.verdicts
          .filter((verdict) => verdict.outcome === 'hold')
          .map((verdict) => `${verdict.guard}: ${escapeMarkdown(verdict.message, 1_000)}`);
        return `- **${escapeMarkdown(drift.report.id)}** (${drift.report.type}): held back, not in this PR. ${reasons.join('; ')}`;
      }),
      more: (hidden) => [`- … and ${hidden} more held targets`],
    },
    { lines: [''] },
  ];
}

function failedBlocks(drifts: readonly TargetDrift[]): Block[] {
  const failed = drifts.filter((drift) => drift.report.status === 'error');
  if (failed.length === 0) return [];
  return [
    {
      lines: [
        '### Checks that failed',
        '',
        'Nothing is removed for these targets because of this check; addresses they did return are proposed above:',
        '',
      ],
    },
    {
      rows: failed.flatMap((drift) =>
        (drift.report.errors.length > 0 ? drift.report.errors : [{ code: 'unknown', message: 'the check failed' }]).map(
          (error) => `- **${escapeMarkdown(drift.report.id)}**: ${problemText(error)}`,
        ),
      ),
      more: (hidden) => [`- … and ${hidden} more errors`],
    },
    { lines: [''] },
  ];
}

function partialBlocks(drifts: readonly TargetDrift[]): Block[] {
  const partial = drifts.filter((drift) => drift.report.status === 'partial');
  if (partial.length === 0) return [];
  return [
    {
      lines: [
        '### Checks that were partial',
        '',
        'Part of these sources could not be read. What was read is applied above; the approved addresses of the part that was not read are kept, neither counted missing nor removed. The warnings at the top say what was not read and why:',
        '',
      ],
    },
    {
      rows: partial.map((drift) => {
        const errors = drift.report.errors.map(problemText).join('; ');
        return `- **${escapeMarkdown(drift.report.id)}** (${drift.report.type}): partial${errors === '' ? '' : `; ${errors}`}`;
      }),
      more: (hidden) => [`- … and ${hidden} more partial checks`],
    },
    { lines: [''] },
  ];
}

/** What each target's `exclude` kept out: never proposed, and taken out of the files where it was approved. */
function excludedBlocks(drifts: readonly TargetDrift[]): Block[] {
  const excluding = drifts.filter((drift) => (drift.report.excluded ?? []).length > 0);
  if (excluding.length === 0) return [];
  return [
    {
      lines: [
        '### Excluded by the config',
        '',
        'The config’s `exclude` keeps these addresses out of the files whatever the sources list; an approved one is removed here:',
        '',
      ],
    },
    {
      rows: excluding.map(
        (drift) => `- ${escapeMarkdown(drift.report.id)}: ${drift.report.excluded!.map((cidr) => `\`${cidr}\``).join(', ')}`,
      ),
      more: (hidden) => [`- … and ${hidden} more targets`],
    },
    { lines: [''] },
  ];
}

/** Approved addresses a person (or a revert) took off the base branch: this PR puts them back, and says so apart. */
function restoredBlocks(input: PullRequestInput): Block[] {
  const restored = input.change?.restored ?? [];
  if (restored.length === 0) return [];
  return [
    {
      lines: [
        '### Restored: approved, but missing from the base branch',
        '',
        'These addresses were approved (merged or accepted) and a target still lists them, but the files on the base branch no longer hold them (removed by hand, or a revert). This PR writes them back. To keep one out for good, close this PR, or add it to the target’s `exclude` in the config:',
        '',
      ],
    },
    { rows: restored.map((cidr) => `- ${cidr}`), more: (hidden) => [`- … and ${hidden} more`] },
    { lines: [''] },
  ];
}

/** Confirmed removals an entry the config does not manage still allows: the files keep that entry whole. */
function staysBlocks(input: PullRequestInput): Block[] {
  const stays = input.change?.stays ?? [];
  if (stays.length === 0) return [];
  return [
    {
      lines: [
        '### Removed here, still allowed by another entry',
        '',
        'No target lists these addresses any more, but an entry this config does not manage covers them; that entry stays as it is written:',
        '',
      ],
    },
    {
      rows: stays.map(
        (stay) =>
          `- \`${stay.cidr}\` stays allowed in ${escapeMarkdown(stay.path)} by \`${escapeMarkdown(stay.entry)}\` (${escapeMarkdown(stay.by)})`,
      ),
      more: (hidden) => [`- … and ${hidden} more`],
    },
    { lines: [''] },
  ];
}

function keptBlocks(input: PullRequestInput): Block[] {
  const kept = input.change?.kept ?? [];
  if (kept.length === 0) return [];
  return [
    {
      lines: [
        '### Kept, not managed here',
        '',
        `These entries are in the files on the base branch, but no target of config ${codeSpan(input.configName)} produced them (a hand edit, or another config writing the same file). They stay as they are:`,
        '',
      ],
    },
    {
      rows: input.change?.unmanaged?.length
        ? input.change.unmanaged.map(
            (item) => `- ${escapeMarkdown(item.entry)} in ${escapeMarkdown(item.path)} (${escapeMarkdown(item.by)})`,
          )
        : kept.map((cidr) => `- ${cidr}`),
      more: (hidden) => [`- … and ${hidden} more`],
    },
    { lines: [''] },
  ];
}
