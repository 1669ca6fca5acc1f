// Azure OpenAI with Entra ID only (disableLocalAuth; a custom subdomain is what token auth needs) and the two
// deployments the app calls: the embedding model and the chat model.
param name string
param location string
param tags object

param embeddingModelName string
param embeddingModelVersion string
param embeddingDeploymentName string
param embeddingDeploymentSku string
param embeddingDeploymentCapacity int

param chatModelName string
param chatModelVersion string
param chatDeploymentName string
param chatDeploymentSku string
param chatDeploymentCapacity int

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource embeddingDeployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: embeddingDeploymentName
  sku: {
    name: embeddingDeploymentSku
    capacity: embeddingDeploymentCapacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: embeddingModelName
      version: embeddingModelVersion
    }
  }
}

// One deployment at a time: the service rejects concurrent deployment writes on one account.
resource chatDeployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: chatDeploymentName
  sku: {
    name: chatDeploymentSku
    capacity: chatDeploymentCapacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: chatModelName
      version: chatModelVersion
    }
  }
  dependsOn: [
    embeddingDeployment
  ]
}

output name string = account.name
output endpoint string = account.properties.endpoint
