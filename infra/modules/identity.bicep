// The user-assigned identity the function app runs as: host storage, deployment package, state table,
// Key Vault references, Application Insights and (optionally) the ARM Service Tags API.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
