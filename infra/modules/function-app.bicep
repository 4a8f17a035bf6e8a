// The function app on a Flex Consumption (FC1) plan, Node.js 22, running as the user-assigned identity.
// `appSettings` below is every app setting of the deployment; shared/app-settings.ts lists the same names and
// test/deploy/infra.test.ts holds the two together (keep one setting per line).
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerUrl string
@description('https://<account>.table.<suffix>: the state store, reached with DefaultAzureCredential.')
param stateTableEndpoint string
param applicationInsightsConnectionString string
param allowlistTable string
@description('Empty unless the app has several configs: a folder of the package, or a blob container.')
param allowlistFolder string
param allowlistContainer string
param documentContainer string
param runQueue string
param outsystemsSchedule string
param casSchedule string
param githubAppId string
param githubAppInstallationId string
@description('Key Vault secret URIs; empty when that secret was not given.')
param githubTokenSecretUri string
param githubAppPrivateKeySecretUri string
param lifetimeTokenSecretUri string
param maximumInstanceCount int
param instanceMemoryMB int

// ALLOWLIST_CONFIG is not set: the deployed config is the package's file ALLOWLIST_CONFIG_PATH names, so an edited
// config takes effect on `azd deploy` (README, "Where the config comes from"). ALLOWLIST_LEASE_SECONDS stays longer than
// host.json's functionTimeout (10 minutes), so only a dead run's lease ever expires.
var appSettings = {
  ALLOWLIST_CONFIG_PATH: 'allowlist-drift.config.json'
  ALLOWLIST_CONFIG_DIR: allowlistFolder
  ALLOWLIST_CONFIG_CONTAINER: allowlistContainer
  ALLOWLIST_STORAGE: stateTableEndpoint
  ALLOWLIST_TABLE: allowlistTable
  ALLOWLIST_DOCUMENT_CONTAINER: documentContainer
  ALLOWLIST_QUEUE: runQueue
  ALLOWLIST_LEASE_SECONDS: '660'
  GITHUB_TOKEN: empty(githubTokenSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${githubTokenSecretUri})'
  GITHUB_APP_ID: githubAppId
  GITHUB_APP_INSTALLATION_ID: githubAppInstallationId
  GITHUB_APP_PRIVATE_KEY: empty(githubAppPrivateKeySecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${githubAppPrivateKeySecretUri})'
  LIFETIME_TOKEN: empty(lifetimeTokenSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${lifetimeTokenSecretUri})'
  OUTSYSTEMS_SCHEDULE: outsystemsSchedule
  CAS_SCHEDULE: casSchedule
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  AZURE_CLIENT_ID: identityClientId
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd finds the app to deploy the "api" service of azure.yaml to by this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve as the user-assigned identity (it holds Key Vault Secrets User).
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: appSettings
  }
}

output name string = site.name
output uri string = 'https://${site.properties.defaultHostName}'
