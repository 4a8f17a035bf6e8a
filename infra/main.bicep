// allowlist-drift on Azure Functions (Flex Consumption), deployed with `azd up`.
// A resource group holding: a user-assigned identity, a storage account without shared keys (host storage, the
// deployment package container and the state table), Log Analytics with Application Insights, a Key Vault in
// RBAC mode for the secrets, and the function app. Every role is a built-in role, named beside its GUID.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names the resource group and seeds the unique resource names.')
param environmentName string

@minLength(1)
@description('Region of every resource; it must offer the Flex Consumption plan.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Resource group to create or reuse; default rg-<environment name>.')
param resourceGroupName string = ''

// No parameter carries the configuration: the deployed config is the allowlist-drift.config.json that `npm run
// package` puts in the package (ALLOWLIST_CONFIG_PATH below), so `azd deploy` of an edited config takes effect.

@minLength(3)
@maxLength(63)
@description('Table holding the state (ALLOWLIST_TABLE): letters and digits, starting with a letter.')
param allowlistTable string = 'allowlistdrift'

@description('Folder of the package holding several configs, every *.json in it (ALLOWLIST_CONFIG_DIR; npm run package copies configs/); empty: the one allowlist-drift.config.json.')
param allowlistFolder string = ''

@description('Blob container holding several configs (ALLOWLIST_CONFIG_CONTAINER): its name in the state storage account, or its URL; empty: none.')
param allowlistContainer string = ''

@description('NCRONTAB of the OutSystems check (OUTSYSTEMS_SCHEDULE); empty: every 15 minutes.')
param outsystemsSchedule string = ''

@description('NCRONTAB of the CAS, ODC, service-tag and static check (CAS_SCHEDULE); empty: 07 past every sixth hour.')
param casSchedule string = ''

@secure()
@description('GitHub fine-grained token (contents, pull requests, issues: write), from the azd value ALLOWLIST_GITHUB_TOKEN. Stored in Key Vault. Leave empty with a GitHub App.')
param githubToken string = ''

@description('GitHub App ID, with the installation ID and the private key (instead of a token).')
param githubAppId string = ''

@description('GitHub App installation ID on the firewall repository.')
param githubAppInstallationId string = ''

@secure()
@description('GitHub App private key (PEM; line breaks may be written as \\n). Stored in Key Vault.')
param githubAppPrivateKey string = ''

@secure()
@description('LifeTime API v2 service-account token for OutSystems front-end counts (LIFETIME_TOKEN). Stored in Key Vault.')
param lifetimeToken string = ''

@description('True when a service-tags target reads the ARM Service Tags API ("arm" in the config): the identity gets Reader on that subscription.')
param serviceTagsArm bool = false

@description('Subscription the "arm" service-tags targets name; empty: the subscription deployed to.')
param serviceTagsSubscriptionId string = ''

@description('Object ID of the person or principal running azd (azd fills it in).')
param principalId string = ''

@description('Also let that principal read and write the state table, so the CLI (status, accept) works against Azure.')
param grantDeployerStateAccess bool = false

@minValue(40)
@maxValue(1000)
@description('Upper bound of Flex Consumption instances: how far the run queue (one message per config) scales out.')
param maximumInstanceCount int = 40

@description('Comma-separated e-mail addresses the alerts go to (ALERT_EMAIL); empty: the alerts show in the portal only.')
param alertEmail string = ''

@minValue(1)
@maxValue(48)
@description('Alert when no timer run completed without an error for this many hours (ALERT_NO_SUCCESS_HOURS).')
param alertNoSuccessHours int = 24

@minValue(1)
@maxValue(365)
@description('Alert when a held change has waited this many days for its release (ALERT_HOLD_DAYS).')
param alertHoldDays int = 7

@allowed([512, 2048, 4096])
@description('Memory of each Flex Consumption instance, in MB.')
param instanceMemoryMB int = 2048

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
// The document cache (ALLOWLIST_DOCUMENT_CONTAINER): the last complete read of each upstream document, by URL.
var documentContainer = 'allowlistdrift-documents'
// The run queue (ALLOWLIST_QUEUE): the timers fan a set of configs out on it, one message per config.
var runQueue = 'allowlist-drift-runs'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: 'app-package'
    tableName: allowlistTable
    documentContainerName: documentContainer
    runQueueName: runQueue
    identityPrincipalId: identity.outputs.principalId
    deployerPrincipalId: grantDeployerStateAccess ? principalId : ''
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
  }
}

module keyVault 'modules/key-vault.bicep' = {
  name: 'keyVault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    githubToken: githubToken
    githubAppPrivateKey: githubAppPrivateKey
    lifetimeToken: lifetimeToken
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'functionApp'
  scope: rg
  params: {
    name: 'func-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    stateTableEndpoint: storage.outputs.tableEndpoint
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    allowlistTable: allowlistTable
    allowlistFolder: allowlistFolder
    allowlistContainer: allowlistContainer
    documentContainer: documentContainer
    runQueue: runQueue
    outsystemsSchedule: empty(outsystemsSchedule) ? '0 */15 * * * *' : outsystemsSchedule
    casSchedule: empty(casSchedule) ? '0 7 */6 * * *' : casSchedule
    githubAppId: githubAppId
    githubAppInstallationId: githubAppInstallationId
    githubTokenSecretUri: keyVault.outputs.githubTokenSecretUri
    githubAppPrivateKeySecretUri: keyVault.outputs.githubAppPrivateKeySecretUri
    lifetimeTokenSecretUri: keyVault.outputs.lifetimeTokenSecretUri
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: resourceToken
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.id
    alertEmail: alertEmail
    noSuccessHours: alertNoSuccessHours
    holdDays: alertHoldDays
  }
}

// Only with serviceTagsArm: the ARM Service Tags API needs Microsoft.Network/locations/serviceTags/read.
module serviceTagsReader 'modules/subscription-reader.bicep' = if (serviceTagsArm) {
  name: 'serviceTagsReader-${resourceToken}'
  scope: subscription(empty(serviceTagsSubscriptionId) ? subscription().subscriptionId : serviceTagsSubscriptionId)
  params: {
    principalId: identity.outputs.principalId
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.uri
// The state table URL, for the CLI on your machine: ALLOWLIST_STORAGE=$(azd env get-value ALLOWLIST_STORAGE)
output ALLOWLIST_STORAGE string = storage.outputs.tableEndpoint
