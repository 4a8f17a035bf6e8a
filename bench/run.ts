import { FULL, runBench } from './figures.js';
import { formatTable, machine } from './table.js';

const started = performance.now();
const rows = await runBench(FULL, (message) => process.stderr.write(`bench: ${message}\n`));
process.stdout.write(
  `allowlist-drift bench on ${machine()}\nmedians over ${FULL.runs}+ runs; nothing here passes or fails\n\n${formatTable(rows)}\n`,
);
process.stdout.write(`\nwhole bench: ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
