// One storage account, reached only with Entra ID (no shared keys): the Functions host's blobs and queues (the run queue too), the
// Flex Consumption deployment package container, and the table holding allowlist-drift's state.
param name string
param location string
param tags object
param deploymentContainerName string
param tableName string
param documentContainerName string
@description('The run queue (ALLOWLIST_QUEUE); the host moves a message that keeps failing to <name>-poison.')
param runQueueName string
param identityPrincipalId string
@description('A principal (the deployer) also allowed to read and write the state table; empty: nobody else.')
param deployerPrincipalId string = ''

var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageQueueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }

  resource blobService 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: { publicAccess: 'None' }
    }

    // The document cache; the app also creates it when missing (Blob Data Owner below covers it).
    resource documentContainer 'containers' = {
      name: documentContainerName
      properties: { publicAccess: 'None' }
    }
  }

  // The host would create both on first use; declaring them makes the fan-out visible in the template.
  resource queueService 'queueServices' = {
    name: 'default'

    resource runQueue 'queues' = {
      name: runQueueName
    }

    resource poisonQueue 'queues' = {
      name: '${runQueueName}-poison'
    }
  }

  resource tableService 'tableServices' = {
    name: 'default'

    // The app also creates it when missing; declaring it makes the state's home visible in the template.
    resource stateTable 'tables' = {
      name: tableName
    }
  }
}

// The host's blobs (timer schedules, locks) and the deployment package the platform reads.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, identityPrincipalId, storageBlobDataOwnerRoleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The host's queues, and the run queue: the timers' output binding, the worker's trigger, and a deferred run put back
// by the worker itself (shared/queue/requeue.ts).
resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, identityPrincipalId, storageQueueDataContributorRoleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// allowlist-drift's state and lease (ALLOWLIST_STORAGE is this account's table endpoint).
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, identityPrincipalId, storageTableDataContributorRoleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Optional: the deployer runs `allowlist-drift status` or `accept` against the same table from a shell.
resource deployerTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(account.id, deployerPrincipalId, storageTableDataContributorRoleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: deployerPrincipalId
  }
}

output name string = account.name
output id string = account.id
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainerName}'
// The form shared/state/store.ts accepts for DefaultAzureCredential: https://<account>.table.<suffix>, no path.
output tableEndpoint string = 'https://${account.name}.table.${environment().suffixes.storage}'
