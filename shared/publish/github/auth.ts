import { createPrivateKey } from 'node:crypto';
import { AllowlistError } from '../../problem.js';

/** How the publisher proves who it is: a token, or a GitHub App installation (preferred: scoped, short-lived tokens). */
export type GitHubCredentials =
  | { readonly kind: 'token'; readonly token: string }
  | { readonly kind: 'app'; readonly appId: number; readonly privateKey: string; readonly installationId: number };

const GITHUB_APP_SETTINGS = ['GITHUB_APP_ID', 'GITHUB_APP_PRIVATE_KEY', 'GITHUB_APP_INSTALLATION_ID'] as const;

/**
 * Reads credentials from app settings. Any GITHUB_APP_* setting selects App auth, so a half-configured
 * App is reported instead of silently falling back to a token with different permissions.
 * Messages name settings, never their values.
 */
export function credentialsFromEnv(env: Record<string, string | undefined>): GitHubCredentials {
  const present = (name: string) => (env[name] ?? '').trim() !== '';
  if (GITHUB_APP_SETTINGS.some(present)) {
    const missing = GITHUB_APP_SETTINGS.filter((name) => !present(name));
    if (missing.length > 0) {
      throw new AllowlistError(
        'github-credentials-missing',
        `GitHub App authentication needs ${missing.join(' and ')} as well (set all of ${GITHUB_APP_SETTINGS.join(', ')}).`,
      );
    }
    return {
      kind: 'app',
      appId: positiveInteger(env.GITHUB_APP_ID!, 'GITHUB_APP_ID'),
      installationId: positiveInteger(env.GITHUB_APP_INSTALLATION_ID!, 'GITHUB_APP_INSTALLATION_ID'),
      privateKey: pemPrivateKey(env.GITHUB_APP_PRIVATE_KEY!),
    };
  }
  const token = (env.GITHUB_TOKEN ?? '').trim();
  if (token === '') {
    throw new AllowlistError(
      'github-credentials-missing',
      `No GitHub credentials: set GITHUB_TOKEN (contents and pull requests: write), or ${GITHUB_APP_SETTINGS.join(', ')} for a GitHub App.`,
    );
  }
  return { kind: 'token', token };
}

/** The secret strings that must never appear in a message. */
export function secretsOf(credentials: GitHubCredentials): string[] {
  return credentials.kind === 'token' ? [credentials.token] : [credentials.privateKey, ...keyBodyLines(credentials.privateKey)];
}

/** Replaces every secret (and any GitHub token-shaped string) in a message. */
export function redact(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const secret of secrets) if (secret.length >= 8) out = out.split(secret).join('[redacted]');
  return out.replace(/\b(gh[pousr]_[A-Za-z0-9_]{16,}|github_pat_[A-Za-z0-9_]{20,})\b/g, '[redacted]');
}

function positiveInteger(text: string, name: string): number {
  const value = Number(text.trim());
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new AllowlistError(
      'github-credentials-invalid',
      `${name} must be a positive number (the ID shown on the GitHub App or installation settings page).`,
    );
  }
  return value;
}

/** App settings often hold the PEM on one line with literal "\n" escapes; restore real line breaks. */
function pemPrivateKey(raw: string): string {
  const pem = raw
    .trim()
    .replace(/^"|"$/g, '')
    .replace(/\\r\\n|\\n/g, '\n')
    .replace(/\r\n/g, '\n');
  try {
    createPrivateKey(pem);
  } catch {
    throw new AllowlistError(
      'github-credentials-invalid',
      'GITHUB_APP_PRIVATE_KEY is not a PEM private key; paste the whole .pem file from the GitHub App settings (line breaks may be written as \\n).',
    );
  }
  return pem;
}

function keyBodyLines(pem: string): string[] {
  return pem.split('\n').filter((line) => line.length >= 16 && !line.startsWith('-----'));
}
