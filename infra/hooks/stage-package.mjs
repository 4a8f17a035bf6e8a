// azd prepackage hook (azure.yaml): stages the deployment package of the function app in .azure-package/.
// It holds what the Functions host loads and nothing else: host.json, package.json (its "main" is the
// dist/functions/*.js glob), the lock file, the config file, the compiled dist/ and the production
// dependencies, installed from the lock file. Your own node_modules (with the dev tools) is left as it is.
//
//   node infra/hooks/stage-package.mjs [--out <dir>] [--skip-install]
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What the package holds besides node_modules, relative to the repository root. */
export const PACKAGE_FILES = ['host.json', 'package.json', 'package-lock.json', 'allowlist-drift.config.json', 'dist'];

export function stagePackage({ out = join(root, '.azure-package'), install = true } = {}) {
  if (!existsSync(join(root, 'dist', 'functions'))) {
    throw new Error('dist/functions is missing: run `npm run build` first (azd runs it before packaging)');
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const entry of PACKAGE_FILES) {
    const from = join(root, entry);
    if (!existsSync(from)) throw new Error(`${entry} is missing from ${root}`);
    cpSync(from, join(out, entry), { recursive: true });
  }
  if (install) {
    const result = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: out,
      stdio: 'inherit',
      shell: process.platform === 'win32',
    });
    if (result.error) throw result.error;
    if (result.status !== 0) throw new Error(`npm ci --omit=dev failed in ${out} (exit status ${result.status})`);
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const outIndex = args.indexOf('--out');
  const out = outIndex >= 0 ? resolve(args[outIndex + 1] ?? '') : undefined;
  try {
    const staged = stagePackage({ ...(out ? { out } : {}), install: !args.includes('--skip-install') });
    console.log(`staged the function app package in ${staged}`);
  } catch (error) {
    console.error(`stage-package: ${error.message}`);
    process.exit(1);
  }
}
