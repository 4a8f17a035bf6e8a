import { readFileSync } from 'node:fs';
import { LIMIT_PRESETS } from '../shared/capacity/limit.js';
import { assignSplit, type SplitAssignment } from '../shared/capacity/split.js';
import { aggregate, covers, familyOf, parseCidr, type Cidr } from '../shared/ipset.js';
import { medianMs, type Row } from './table.js';

/**
 * Issue 24, "Split": the MicrosoftCloudAppSecurity tag in AWS security groups of 60 rules per family. How many files a
 * review sees change when the tag gains one prefix, ours (stable assignment) against re-cutting the sorted list into
 * consecutive full files the way Terraform's chunklist does.
 */
export async function splitFigures(serviceTagsFile: string, runs: number): Promise<Row[]> {
  const document = JSON.parse(readFileSync(serviceTagsFile, 'utf8')) as {
    values: Array<{ name: string; properties: { addressPrefixes: string[] } }>;
  };
  const tag = document.values.find((value) => value.name === 'MicrosoftCloudAppSecurity')!;
  const prefixes = aggregate(tag.properties.addressPrefixes.map(parseCidr));
  const limit = LIMIT_PRESETS['aws-security-group'];
  // A public address in the middle of the tag's address order, so a re-cut moves every file after it.
  const added = parseCidr('52.16.250.7/32');
  if (covers(prefixes, added)) throw new Error(`${added} is already in the tag; pick another`);

  const before = assignSplit({ files: [], want: prefixes, limit });
  const files = [...before].map(([n, entries]) => ({ n, entries }));
  let after: SplitAssignment = before;
  const ms = await medianMs(runs, () => {
    after = assignSplit({ files, want: [...prefixes, added], limit });
  });
  const rechunked = changedChunks(chunk(prefixes, limit.maxEntries), chunk(aggregate([...prefixes, added]), limit.maxEntries));
  return [
    {
      figure: `11. split: files changed by one added prefix (${prefixes.length} prefixes in ${before.size} files of 60)`,
      ours: changedFiles(before, after),
      anchor: rechunked,
      anchorName: 're-chunking (chunklist)',
      unit: 'files',
      goal: '1',
    },
    { figure: '11a. split: assign the tag plus one prefix to its numbered files', ours: ms, unit: 'ms', goal: 'report' },
  ];
}

function changedFiles(before: SplitAssignment, after: SplitAssignment): number {
  const numbers = new Set([...before.keys(), ...after.keys()]);
  return [...numbers].filter((n) => (before.get(n) ?? []).join() !== (after.get(n) ?? []).join()).length;
}

/** Terraform's chunklist over the sorted entries, per family as a security group counts them. */
function chunk(sorted: readonly Cidr[], size: number): string[] {
  return [4, 6].flatMap((family) => {
    const list = sorted.filter((cidr) => familyOf(cidr) === family);
    return Array.from(
      { length: Math.ceil(list.length / size) },
      (_, index) => `${family}:${list.slice(index * size, (index + 1) * size).join()}`,
    );
  });
}

function changedChunks(before: readonly string[], after: readonly string[]): number {
  const length = Math.max(before.length, after.length);
  return Array.from({ length }, (_, index) => before[index] !== after[index]).filter(Boolean).length;
}
