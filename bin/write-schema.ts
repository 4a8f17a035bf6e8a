#!/usr/bin/env node
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { configJsonSchemaText } from '../shared/config.js';

/**
 * Regenerates allowlist-drift.schema.json from the zod schema, so editors validate against exactly
 * what the app accepts. Run from the project root (npm scripts do); an argument overrides the output path.
 */
const output = resolve(process.argv[2] ?? 'allowlist-drift.schema.json');
await writeFile(output, configJsonSchemaText(), 'utf8');
process.stdout.write(`wrote ${output}\n`);
