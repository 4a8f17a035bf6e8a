import type { GitHubConfig, Target } from '../config.js';
import type { GitHubIdentity, GitHubProbe } from '../publish/github/probe.js';
import { doctorOf } from '../sources/registry.js';

/** What to change when a doctor check fails: one line per failure, by the error's code and status. */

export function storageFix(error: unknown): string {
  const code = codeOf(error);
  if (code === 'storage-missing') {
    return 'Set ALLOWLIST_STORAGE to a storage connection string, or to https://<account>.table.core.windows.net to use the managed identity (or set AzureWebJobsStorage).';
  }
  if (code === 'state-setting-invalid')
    return 'Correct ALLOWLIST_STORAGE: a connection string with AccountName and AccountKey (or a SAS), or an https:// table endpoint URL.';
  const status = httpStatusIn(messageOf(error));
  if (status === 403) {
    return "Grant the app's identity the Storage Table Data Contributor role on the storage account, or use a key or SAS that allows creating and writing table rows.";
  }
  if (status === 401)
    return 'The account key or SAS in ALLOWLIST_STORAGE is wrong or expired: copy a current one from the storage account.';
  if (code === 'doctor-timeout')
    return 'The storage did not answer in time: check the account name and endpoint and that this host may reach it (network rules, firewall, private endpoint DNS).';
  return 'Check that the storage account named in ALLOWLIST_STORAGE exists and that this host may reach it (network rules, firewall, private endpoint DNS); locally, start Azurite.';
}

/** `kind` is known once the settings were read; a failure before that is about the settings themselves. */
export function credentialsFix(error: unknown, github: GitHubConfig, kind: GitHubProbe['kind'] | undefined): string {
  const code = codeOf(error);
  if (code === 'github-credentials-missing') {
    return `Set GITHUB_TOKEN (a fine-grained token with ${tokenPermissions(github)}), or GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID for a GitHub App.`;
  }
  if (code === 'github-unreachable' || code === 'doctor-timeout') {
    return `Check github.apiUrl (${github.apiUrl}; GitHub Enterprise Server: https://<host>/api/v3) and that this host may make HTTPS requests to it (proxy, firewall).`;
  }
  const status = statusOf(error);
  const app = kind === 'app';
  if (kind === undefined) {
    return 'Correct the setting named: GITHUB_APP_ID and GITHUB_APP_INSTALLATION_ID are numbers, GITHUB_APP_PRIVATE_KEY is the whole .pem file (line breaks may be written as \\n).';
  }
  if (status === 401) {
    return app
      ? 'GitHub refused the App: check that GITHUB_APP_ID is the App id and GITHUB_APP_PRIVATE_KEY a current private key of that App (keys can be revoked in its settings).'
      : `GITHUB_TOKEN was refused: it is wrong, expired or revoked. Create a new fine-grained token with ${tokenPermissions(github)} on the repository.`;
  }
  if (status === 404 && app) {
    return 'No such installation of the App: set GITHUB_APP_INSTALLATION_ID to the number at the end of the installation settings URL, and check the App is still installed.';
  }
  return genericGitHubFix(error, github);
}

export function repositoryFix(error: unknown, github: GitHubConfig, kind: GitHubIdentity['kind']): string {
  const status = statusOf(error);
  if (status === 404 || status === 403) {
    return kind === 'app'
      ? `Check github.owner and github.repo, and install the GitHub App on ${github.owner}/${github.repo} (or add the repository to its installation).`
      : `Check github.owner and github.repo, and that the token can see ${github.owner}/${github.repo} (a fine-grained token lists it under Repository access).`;
  }
  return genericGitHubFix(error, github);
}

export function genericGitHubFix(error: unknown, github: GitHubConfig): string {
  if (codeOf(error) === 'github-rate-limited')
    return 'The credentials ran out of GitHub API requests: wait for the reset, or use a GitHub App (its limits are per installation).';
  if (codeOf(error) === 'github-unreachable' || codeOf(error) === 'doctor-timeout')
    return `Check that this host may reach ${github.apiUrl}, then run the doctor again.`;
  if (codeOf(error) === 'github-bad-response')
    return `Check github.apiUrl (${github.apiUrl}): it must be the REST API root (GitHub Enterprise Server: https://<host>/api/v3).`;
  return 'GitHub answered with an error (see the detail); run the doctor again, and check https://www.githubstatus.com if it persists.';
}

/** What the tool writes: files and pull requests always, the dashboard issue (and its labels) unless it is turned off. */
export function writePermissions(github: GitHubConfig): readonly ('contents' | 'pull_requests' | 'issues')[] {
  return github.dashboard ? ['contents', 'pull_requests', 'issues'] : ['contents', 'pull_requests'];
}

/** The same list as GitHub's settings pages name the permissions. */
export function tokenPermissions(github: GitHubConfig): string {
  return github.dashboard
    ? 'Contents, Pull requests and Issues: read and write (Issues for the drift dashboard)'
    : 'Contents and Pull requests: read and write';
}

export function upstreamFix(error: unknown, target: Target): string {
  const code = codeOf(error);
  const own = doctorOf(target.type)?.fix?.({ code, status: httpStatusIn(messageOf(error)) }, target);
  if (own !== undefined) return own;
  switch (code) {
    case 'arm-auth':
      return /token/i.test(messageOf(error))
        ? "The credential gave no ARM token: turn on the Function App's managed identity (locally, sign in with az login)."
        : "Grant the app's identity the Reader role on the subscription (it needs Microsoft.Network/locations/serviceTags/read).";
    case 'http-network':
    case 'http-timeout':
      return 'Check the URL, and that this host may reach it (DNS, proxy, outbound firewall); a slow server needs a larger http.timeoutMs.';
    case 'http-redirect':
      return 'Use the final URL: redirects to another host are not followed.';
    case 'http-too-large':
      return 'The document is larger than http.maxBytes: check the URL, or raise http.maxBytes.';
    case 'http-status':
      return 'The server answered with an error: check the URL, and try again later if it is a server error.';
    default:
      return "Check the target's url (or arm settings) and this host's network access.";
  }
}

export function resolverFix(code: string): string {
  switch (code) {
    case 'dns-timeout':
      return 'The resolver did not answer: check the address in dns.servers and that this host may send DNS (UDP and TCP port 53) to it; a slow resolver needs a larger dns.timeoutMs.';
    case 'dns-refused':
      return 'The resolver refuses queries from this host: use one that serves it (in Azure, 168.63.129.16), or allow this host on the resolver.';
    case 'dns-servfail':
      return 'The resolver failed to resolve the name: check its upstream, or list another resolver in dns.servers.';
    case 'dns-bad-answer':
      return 'The resolver answered with something unusable: list another resolver in dns.servers.';
    default:
      return 'The query failed (see the detail): check the address in dns.servers and that this host may reach it, or list another resolver.';
  }
}

export function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = codeOf(error);
  return code && !message.startsWith(code) ? `${code}: ${message}` : message;
}

export function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The HTTP status a GitHub failure carries. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && status > 0 ? status : undefined;
}

export function httpStatusIn(message: string): number | undefined {
  const match = /\bHTTP (\d{3})\b/.exec(message);
  return match ? Number(match[1]) : undefined;
}
