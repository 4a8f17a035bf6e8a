import { cpus, totalmem } from 'node:os';

/** One line of the bench table: our figure, the anchor measured in the same run, and the goal. */
export interface Row {
  readonly figure: string;
  readonly ours: number;
  readonly anchor?: number;
  readonly anchorName?: string;
  readonly unit: 'ms' | 'bytes' | 'KB' | 'MB' | 'requests' | 'messages' | 'files' | 'addresses';
  readonly goal: string;
  readonly note?: string;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Runs `work` `runs` times and returns the median wall time in milliseconds. */
export async function medianMs(runs: number, work: () => unknown): Promise<number> {
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    // Each run starts from a collected heap when --expose-gc is on, so one run's garbage is not billed to the next.
    (globalThis as { gc?: () => void }).gc?.();
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
  }
  return median(times);
}

/**
 * Medians of two pieces of work measured alternately, so JIT warm-up and the heap left by earlier
 * figures fall on both sides alike instead of on whichever runs first.
 */
export async function medianPairMs(runs: number, ours: () => unknown, anchor: () => unknown): Promise<{ ours: number; anchor: number }> {
  const oursTimes: number[] = [];
  const anchorTimes: number[] = [];
  for (let run = 0; run < runs; run++) {
    oursTimes.push(await medianMs(1, ours));
    anchorTimes.push(await medianMs(1, anchor));
  }
  return { ours: median(oursTimes), anchor: median(anchorTimes) };
}

export function machine(): string {
  const cpu = cpus();
  return `${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}, ${process.platform}/${process.arch}`;
}

export function formatTable(rows: readonly Row[]): string {
  const header = ['figure', 'ours', 'anchor', 'ratio', 'goal'];
  const lines = rows.map((row) => [
    row.figure,
    amount(row.ours, row.unit),
    row.anchor === undefined ? '-' : `${amount(row.anchor, row.unit)} (${row.anchorName ?? 'anchor'})`,
    row.anchor === undefined ? '-' : ratio(row.ours, row.anchor),
    row.goal,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const format = (cells: readonly string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  const notes = rows.flatMap((row) => (row.note ? [`- ${row.figure}: ${row.note}`] : []));
  return [format(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...lines.map(format), '', ...notes].join('\n');
}

function amount(value: number, unit: Row['unit']): string {
  if (unit === 'requests' || unit === 'messages' || unit === 'files') return String(value);
  if (unit === 'addresses') return `${value.toLocaleString('en-US')} addresses`;
  if (unit === 'bytes') return `${value.toLocaleString('en-US')} B`;
  if (unit === 'KB') return `${value.toFixed(0)} KB`;
  if (unit === 'MB') return `${value.toFixed(0)} MB`;
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${value.toFixed(value < 10 ? 2 : 0)} ms`;
}

function ratio(ours: number, anchor: number): string {
  if (anchor === 0) return ours === 0 ? '1.00x' : 'n/a';
  return `${(ours / anchor).toFixed(2)}x`;
}
