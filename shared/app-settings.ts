/**
 * Every app setting of a deployment, in one list: what this app reads, and what the Functions host and
 * @azure/identity need beside it. infra/modules/function-app.bicep sets the ones marked `azure`,
 * local.settings.sample.json holds the ones marked `local`, and the README's "App settings" table lists them
 * all; test/deploy/infra.test.ts holds the four (and the code's own reads) to each other.
 */
export interface AppSetting {
  readonly name: string;
  /** One line for the README. */
  readonly description: string;
  /** Who reads it: this app's code, the Functions host, or DefaultAzureCredential (@azure/identity). */
  readonly readBy: 'app' | 'host' | 'identity';
  /** Set by infra/ in Azure. */
  readonly azure: boolean;
  /** Present in local.settings.sample.json for `func start`. */
  readonly local: boolean;
  /** A secret: a Key Vault reference in Azure, empty in the sample. */
  readonly secret?: boolean;
}

export const APP_SETTINGS: readonly AppSetting[] = [
  {
    name: 'ALLOWLIST_CONFIG',
    description:
      'the configuration as inline JSON; wins over the file. Not set in Azure, where the config is the file of the deployed package',
    readBy: 'app',
    azure: false,
    local: true,
  },
  {
    name: 'ALLOWLIST_CONFIG_PATH',
    description:
      'config file, relative to the app root; default `allowlist-drift.config.json` (in Azure: that file of the package, which `azd deploy` replaces)',
    readBy: 'app',
    azure: true,
    local: true,
  },
  {
    name: 'ALLOWLIST_CONFIG_DIR',
    description:
      'a folder of configs, every `*.json` in it, relative to the app root (in Azure: a folder of the package, from the azd value `ALLOWLIST_FOLDER`); replaces the single config',
    readBy: 'app',
    azure: true,
    local: true,
  },
  {
    name: 'ALLOWLIST_CONFIG_CONTAINER',
    description:
      'a Blob container of configs, read on every run: its name in the storage account of `ALLOWLIST_STORAGE`, or its URL (in Azure from the azd value `ALLOWLIST_CONTAINER`); replaces the single config',
    readBy: 'app',
    azure: true,
    local: true,
  },
  {
    name: 'ALLOWLIST_STORAGE',
    description:
      'the state store: a storage connection string, or `https://<account>.table.core.windows.net` used with the managed identity (DefaultAzureCredential)',
    readBy: 'app',
    azure: true,
    local: true,
  },
  {
    name: 'ALLOWLIST_TABLE',
    description: 'the table holding the state; default `allowlistdrift` (one partition per config)',
    readBy: 'app',
    azure: true,
    local: true,
  },
  {
    name: 'ALLOWLIST_DOCUMENT_CONTAINER',
    description:
      'the blob container (same storage account as the state) holding the last complete read of each upstream document, so a run downloads only what changed; default `allowlistdrift-documents`, created on first use',
    readBy: 'app',
    azure: true,
    local: true,
  },
  {
    name: 'ALLOWLIST_QUEUE',
    description:
      'the Storage queue (in the host storage account, `AzureWebJobsStorage`) on which the timers fan a folder or container of configs out, one message per config; default `allowlist-drift-runs`; failed messages end in `<name>-poison`',
    readBy: 'app',
    azure: true,
    local: true,
  },
  {
    name: 'ALLOWLIST_LEASE_SECONDS',
    description:
      "how long a run's lease on its config lasts, in whole seconds from 5 to 3600; default 660 (11 minutes), longer than the function timeout (10 minutes), so only a dead run's lease expires; a run message of a config whose worker died waits that long",
    readBy: 'app',
    azure: true,
    local: true,
  },
  {
    name: 'GITHUB_TOKEN',
    description: 'a fine-grained personal access token, or ...',
    readBy: 'app',
    azure: true,
    local: true,
    secret: true,
  },
  {
    name: 'GITHUB_APP_ID',
    description: '... a GitHub App: its App ID ...',
    readBy: 'app',
    azure: true,
    local: true,
  },
  {
    name: 'GITHUB_APP_INSTALLATION_ID',
    description: '... the installation ID on the firewall repository ...',
    readBy: 'app',
    azure: true,
    local: true,
  },
  {
    name: 'GITHUB_APP_PRIVATE_KEY',
    description: '... and its private key (PEM; line breaks may be written as `\\n`)',
    readBy: 'app',
    azure: true,
    local: true,
    secret: true,
  },
  {
    name: 'LIFETIME_TOKEN',
    description: 'LifeTime API v2 service-account token (the default `lifetime.tokenSetting`; a config may name another setting)',
    readBy: 'app',
    azure: true,
    local: true,
    secret: true,
  },
  {
    name: 'OUTSYSTEMS_SCHEDULE',
    description: 'NCRONTAB of the OutSystems check; sample `0 */15 * * * *` (every 15 minutes: DNS drift matters within the hour)',
    readBy: 'app',
    azure: true,
    local: true,
  },
  {
    name: 'CAS_SCHEDULE',
    description:
      'NCRONTAB of the CAS, ODC, service-tag and static check; sample `0 7 */6 * * *` (offset from the OutSystems ticks, so the two never start together)',
    readBy: 'app',
    azure: true,
    local: true,
  },
  {
    name: 'AzureWebJobsStorage',
    description: "the Functions host's storage (locally Azurite); the state store when `ALLOWLIST_STORAGE` is not set",
    readBy: 'app',
    azure: false,
    local: true,
  },
  {
    name: 'FUNCTIONS_WORKER_RUNTIME',
    description: '`node`; in Azure the Flex Consumption plan takes the runtime from the app itself',
    readBy: 'host',
    azure: false,
    local: true,
  },
  {
    name: 'AzureWebJobsStorage__accountName',
    description:
      "the host's storage account, reached with the managed identity instead of a connection string; the run queue's too (a deferred run is put back there). Empty locally, where `AzureWebJobsStorage` wins",
    readBy: 'app',
    azure: true,
    local: true,
  },
  {
    name: 'AzureWebJobsStorage__credential',
    description: '`managedidentity`',
    readBy: 'host',
    azure: true,
    local: false,
  },
  {
    name: 'AzureWebJobsStorage__clientId',
    description: 'client ID of the user-assigned identity the host uses for its storage',
    readBy: 'host',
    azure: true,
    local: false,
  },
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING',
    description: 'where the host sends logs and telemetry',
    readBy: 'host',
    azure: true,
    local: false,
  },
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
    description: 'sends telemetry with the managed identity (`Authorization=AAD`), so Application Insights needs no key',
    readBy: 'host',
    azure: true,
    local: false,
  },
  {
    name: 'AZURE_CLIENT_ID',
    description:
      'client ID of the user-assigned identity, which DefaultAzureCredential uses for Table Storage and the ARM service-tags API',
    readBy: 'identity',
    azure: true,
    local: false,
  },
];

export const APP_SETTING_NAMES: readonly string[] = APP_SETTINGS.map((setting) => setting.name);
