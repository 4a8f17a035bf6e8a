// The storage setting read into a table endpoint: a connection string or a URL, https unless it is Azurite on this
// machine, and the table service rather than another service of the account.
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { AllowlistError } from '../problem.js';

const DEVELOPMENT_ACCOUNT = 'devstoreaccount1';
const DEVELOPMENT_TABLE_ENDPOINT = 'http://127.0.0.1:10002/devstoreaccount1';

export function parseConnectionString(setting: string): Map<string, string> {
  const parts = new Map<string, string>();
  for (const element of setting.split(';')) {
    const separator = element.indexOf('=');
    if (separator <= 0) continue;
    parts.set(element.slice(0, separator).trim().toLowerCase(), element.slice(separator + 1).trim());
  }
  if (parts.size === 0) throw settingError('The storage setting is neither a connection string nor an http(s) URL.');
  return parts;
}

export function tableEndpointOf(parts: Map<string, string>): URL {
  if (parts.get('usedevelopmentstorage')?.toLowerCase() === 'true') return new URL(DEVELOPMENT_TABLE_ENDPOINT);
  const explicit = parts.get('tableendpoint');
  if (explicit) return parseUrl(explicit);
  const account = parts.get('accountname');
  if (!account) throw settingError('The storage connection string has neither TableEndpoint nor AccountName.');
  const protocol = parts.get('defaultendpointsprotocol') ?? 'https';
  const suffix = parts.get('endpointsuffix') ?? 'core.windows.net';
  return parseUrl(`${protocol}://${account}.table.${suffix}`);
}

/** Returns whether the SDK must be allowed plain HTTP, which is only acceptable for a local emulator. */
export function requireSecureOrLocal(url: URL, account: string | undefined): boolean {
  if (url.protocol === 'https:') return false;
  if (url.protocol === 'http:' && (isLoopback(url.hostname) || account === DEVELOPMENT_ACCOUNT)) return true;
  throw settingError(
    `The table endpoint ${url.protocol}//${url.host} must use https (plain http is only allowed for Azurite on this machine).`,
  );
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * A storage account's blob, queue or file endpoint answers table requests with an authentication failure that
 * names none of this ("ChainedTokenCredential authentication failed"), so the setting is refused with the fix.
 */
export function requireTableEndpoint(url: URL): void {
  const other = /^([a-z0-9]+)\.(blob|queue|file|dfs|web)\.(.+)$/i.exec(url.hostname);
  if (other) {
    const [, account, service, suffix] = other;
    throw settingError(
      `The storage setting names the ${service} endpoint of account ${account}; state is kept in Table Storage: give the table endpoint, https://${account}.table.${suffix}`,
    );
  }
}

/** Azurite and other path-style endpoints name the account in the path, Azure in the host. */
export function accountOfUrl(url: URL): string | undefined {
  const fromPath = url.pathname.split('/').find(Boolean);
  return fromPath ?? url.hostname.split('.')[0];
}

export function parseUrl(text: string): URL {
  try {
    return new URL(text);
  } catch {
    throw settingError('The table endpoint in the storage setting is not a valid URL.');
  }
}

export function settingError(message: string): AllowlistError {
  return new AllowlistError('state-setting-invalid', message);
}

/**
 * @azure/identity is large and only needed on Azure, so it is imported on the first token request rather than
 * when the module loads.
 */
export function lazyDefaultAzureCredential(): TokenCredential {
  let credential: Promise<TokenCredential> | undefined;
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      credential ??= import('@azure/identity').then(({ DefaultAzureCredential }) => new DefaultAzureCredential());
      return (await credential).getToken(scopes, options);
    },
  };
}
