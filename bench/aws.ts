import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { readAwsIpRanges } from '../shared/sources/aws-ip-ranges/index.js';
import { AWS_IP_RANGES_URL } from '../shared/sources/aws-ip-ranges/schema.js';
import { medianPairMs, type Row } from './table.js';

const AWS_2026 = 'test/fixtures/aws/ip-ranges_2026-08-22.json';

/**
 * Issue 25: reading AWS's ip-ranges.json with every service and region selected (16,828 entries, 2.6 MB) beside bare
 * JSON.parse of the same text; goal within 2x. `root` is the project root, `runs` the pairs measured.
 */
export async function awsIpRanges(root: string, runs: number): Promise<Row[]> {
  const text = readFileSync(resolve(root, AWS_2026), 'utf8');
  const target = { url: AWS_IP_RANGES_URL, services: '*', regions: '*' } as const;
  let entries = 0;
  const { ours, anchor } = await medianPairMs(
    runs,
    () => (entries = readAwsIpRanges(text, target).entries.length),
    () => JSON.parse(text),
  );
  return [
    {
      figure: '2b. AWS ip-ranges.json 2026-08-22: read services "*", regions "*"',
      ours,
      anchor,
      anchorName: 'bare JSON.parse',
      unit: 'ms',
      goal: '<= 2x',
      note: `${entries} distinct prefixes observed from 16,828 entries`,
    },
  ];
}
