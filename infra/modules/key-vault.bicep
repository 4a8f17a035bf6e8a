// A Key Vault in RBAC mode for the secrets the app reads as app settings. Each secret is stored only when given;
// the app settings reference them (@Microsoft.KeyVault) and the identity may read them, nothing more.
param name string
param location string
param tags object
param identityPrincipalId string
@secure()
param githubToken string = ''
@secure()
param githubAppPrivateKey string = ''
@secure()
param lifetimeToken string = ''

var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource githubTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(githubToken)) {
  parent: vault
  name: 'github-token'
  properties: { value: githubToken }
}

resource githubAppPrivateKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(githubAppPrivateKey)) {
  parent: vault
  name: 'github-app-private-key'
  properties: { value: githubAppPrivateKey, contentType: 'application/x-pem-file' }
}

resource lifetimeTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(lifetimeToken)) {
  parent: vault
  name: 'lifetime-token'
  properties: { value: lifetimeToken }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, keyVaultSecretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Versionless URIs, so a rotated secret is picked up without a redeploy; empty when the secret was not given.
output name string = vault.name
output githubTokenSecretUri string = empty(githubToken) ? '' : '${vault.properties.vaultUri}secrets/github-token'
output githubAppPrivateKeySecretUri string = empty(githubAppPrivateKey) ? '' : '${vault.properties.vaultUri}secrets/github-app-private-key'
output lifetimeTokenSecretUri string = empty(lifetimeToken) ? '' : '${vault.properties.vaultUri}secrets/lifetime-token'
