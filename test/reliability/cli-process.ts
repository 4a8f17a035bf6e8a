import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ConfigInput } from '../../shared/config.js';

/** The compiled CLI in child processes. */

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'dist/bin/allowlist-drift.js');

/** Builds dist/ when the CLI is missing or older than any source it is compiled from. */
export function ensureBuilt(): void {
  const newestSource = Math.max(
    ...['shared', 'bin', 'functions'].flatMap((dir) => listTs(join(ROOT, dir))).map((file) => statSync(file).mtimeMs),
  );
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newestSource) return;
  spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.json')], {
    cwd: ROOT,
    stdio: 'ignore',
  });
  if (!existsSync(CLI)) throw new Error('the CLI could not be built');
}

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listTs(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

export function writeConfigFile(input: ConfigInput): string {
  const dir = mkdtempSync(join(tmpdir(), 'allowlist-drift-relb-'));
  const path = join(dir, 'allowlist-drift.config.json');
  writeFileSync(path, JSON.stringify(input));
  return path;
}

export interface CliRun {
  readonly child: ChildProcess;
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

export function startCli(args: string[], env: Record<string, string>): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolveRun) => {
    child.once('exit', (code, signal) => resolveRun({ code, signal, stdout, stderr }));
  });
  return { child, done };
}
