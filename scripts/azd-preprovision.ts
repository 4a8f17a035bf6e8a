// The azd `preprovision` hook (azure.yaml): refuses to provision while the azd environment holds values this release
// no longer reads, each with the command that moves it. Without it, azd would provision without them and say
// nothing: the GitHub token would drop out of Key Vault, a config override would be ignored.
//
//   npm run preprovision      (azd runs it before every `azd provision` and `azd up`)
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A value of the azd environment this release no longer reads, and what to do instead. */
interface RetiredValue {
  readonly name: string;
  /** Not a problem when this value is set too: the person has already moved it. */
  readonly replacedBy?: string;
  readonly fix: (environment: string) => string;
}

const RETIRED: readonly RetiredValue[] = [
  {
    name: 'GITHUB_TOKEN',
    replacedBy: 'ALLOWLIST_GITHUB_TOKEN',
    // A shell sets GITHUB_TOKEN for its own purposes (Codespaces always does), and azd reads parameters from the
    // shell when its environment lacks them: the token of whoever runs azd would land in Key Vault.
    fix: (environment) =>
      `the template now reads the token from ALLOWLIST_GITHUB_TOKEN, a name no shell sets by accident; move it with\n` +
      `      azd env set ALLOWLIST_GITHUB_TOKEN "$(azd env get-value GITHUB_TOKEN)" -e ${environment}\n` +
      `    then delete the GITHUB_TOKEN line from .azure/${environment}/.env`,
  },
  {
    name: 'ALLOWLIST_CONFIG_BASE64',
    fix: (environment) =>
      `the deployed config is now the allowlist-drift.config.json of the package, so that \`azd deploy\` ships an edited config;\n` +
      `    write this config into that file (azd env get-value ALLOWLIST_CONFIG_BASE64 -e ${environment} | base64 -d > allowlist-drift.config.json)\n` +
      `    and delete the ALLOWLIST_CONFIG_BASE64 line from .azure/${environment}/.env`,
  },
  ...['GITHUB_OWNER', 'GITHUB_REPO'].map((name) => ({
    name,
    fix: (environment: string) =>
      `the deployed config is now the allowlist-drift.config.json of the package, unchanged by provision; put the value into its\n` +
      `    "github" section ("${name === 'GITHUB_OWNER' ? 'owner' : 'repo'}") and delete the ${name} line from .azure/${environment}/.env`,
  })),
];

/** The names of the values an azd `.env` file sets to something non-empty (values are never kept: they are secrets). */
export function namesSet(dotenv: string): Set<string> {
  const names = new Set<string>();
  for (const line of dotenv.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (match && !['', '""', "''"].includes(match[2]!)) names.add(match[1]!);
  }
  return names;
}

/** One problem per retired value the environment still holds, naming the value and the fix; empty when all is well. */
export function retiredValueProblems(options: { environment: string; names: ReadonlySet<string> }): string[] {
  const { environment, names } = options;
  return RETIRED.filter((value) => names.has(value.name) && !(value.replacedBy && names.has(value.replacedBy))).map(
    (value) => `  - ${value.name}: ${value.fix(environment)}`,
  );
}

/** The hook: reads the azd environment azd runs it for (AZURE_ENV_NAME) from `.azure/<name>/.env`. */
export function checkAzdEnvironment(options: { root: string; env: NodeJS.ProcessEnv }): { code: number; message: string } {
  const environment = options.env.AZURE_ENV_NAME;
  if (!environment) {
    return { code: 2, message: 'preprovision: AZURE_ENV_NAME is not set; azd sets it when it runs this hook (azure.yaml)' };
  }
  const file = join(options.root, '.azure', environment, '.env');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { code: 0, message: '' }; // no local values at all (a fresh environment of the deploy workflow)
  }
  // The process environment is deliberately not read: the shell's own GITHUB_TOKEN is the very value to keep out.
  const problems = retiredValueProblems({ environment, names: namesSet(text) });
  if (problems.length === 0) return { code: 0, message: '' };
  return {
    code: 1,
    message: `preprovision: the azd environment "${environment}" holds values this release no longer reads:\n${problems.join('\n')}\n`,
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { code, message } = checkAzdEnvironment({ root: process.cwd(), env: process.env });
  if (message) process.stderr.write(`${message}\n`);
  process.exit(code);
}
