// What `azd up` creates for the catalog search Function App: a resource group holding a Flex Consumption (FC1)
// Python 3.11 function app with a user-assigned managed identity, its identity-only storage account, Application
// Insights, a Cosmos DB for NoSQL account with vector search (database and every container the app uses) and an
// Azure OpenAI account with the embedding and chat deployments. No key or connection secret exists anywhere: every
// call is made with Entra ID, and the identity (plus, optionally, the deploying user) gets data roles by id.
// Optionally (enableEasyAuth) App Service authentication with Microsoft Entra ID runs in front of the app, letting
// anonymous shoppers through and telling the app who a signed-in caller is (docs/operators.md).
//
// STYLE CONTRACT: `var appSettings` below is the one list of app settings the function app gets. There is no Bicep
// compiler in CI, so tests/unit/test_infra.py reads this file with a small tokenizer and checks those names against
// what the app reads (composition/settings.py) and what its bindings reference. Keep it parseable: one `NAME: value`
// per line; a value is a quoted literal, a parameter, `string(parameter)`, a module output or a `cosmosCatalog`
// lookup; objects and arrays open at the end of a line and close on their own line; no single-line objects.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name: names the resource group and seeds the unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer Flex Consumption, Cosmos DB vector search and the Azure OpenAI models and deployment types chosen below.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of a person (your `az login` user) who also gets the data roles, to run the app locally against these resources. azd passes AZURE_PRINCIPAL_ID. Empty: only the app identity gets them.')
param principalId string = ''

@description('What principalId is.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Embedding model; EMBEDDING_MODEL and the products/cache vector policies follow it.')
param embeddingModelName string = 'text-embedding-3-small'

@description('Version of the embedding model.')
param embeddingModelVersion string = '1'

@description('Deployment name of the embedding model (AZURE_OPENAI_EMBEDDING_DEPLOYMENT).')
param embeddingDeploymentName string = 'text-embedding-3-small'

@description('Deployment type of the embedding model: GlobalStandard, or Standard where data must stay in the region.')
param embeddingDeploymentSku string = 'GlobalStandard'

@description('Embedding deployment capacity in thousands of tokens per minute.')
param embeddingDeploymentCapacity int = 120

@description('Vector length (EMBEDDING_DIMENSIONS). text-embedding-3-small makes 1536; fewer shortens the vectors. Vector policies cannot change after a container exists: changing this needs new containers.')
@minValue(1)
@maxValue(1536)
param embeddingDimensions int = 1536

@description('Chat model that writes the RAG answers.')
param chatModelName string = 'gpt-4o'

@description('Version of the chat model.')
param chatModelVersion string = '2024-11-20'

@description('Deployment name of the chat model (AZURE_OPENAI_CHAT_DEPLOYMENT).')
param chatDeploymentName string = 'gpt-4o'

@description('Deployment type of the chat model: GlobalStandard, or Standard where data must stay in the region.')
param chatDeploymentSku string = 'GlobalStandard'

@description('Chat deployment capacity in thousands of tokens per minute.')
param chatDeploymentCapacity int = 30

@description('Azure OpenAI REST API version the app calls (AZURE_OPENAI_API_VERSION).')
param azureOpenAiApiVersion string = '2024-10-21'

@description('Vector index of the products and cache containers. quantizedFlat suits up to tens of thousands of vectors per partition; diskANN scales further. (flat is not offered: it indexes at most 505 dimensions.) Immutable once a container exists.')
@allowed([
  'quantizedFlat'
  'diskANN'
])
param vectorIndexType string = 'quantizedFlat'

@description('Most instances the function app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of one instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Run App Service authentication (Easy Auth) with Microsoft Entra ID in front of the app. Unauthenticated requests still reach the app (shoppers need no sign-in); a request with an Entra token for easyAuthClientId is verified, and the app then trusts the caller identity and app roles Easy Auth passes on (AUTH_TRUST_EASY_AUTH). Needs easyAuthClientId.')
param enableEasyAuth bool = false

@description('Application (client) id of the Entra app registration Easy Auth accepts tokens for, with the Catalog.Operator app role: an existing registration, or the one entra/app-registration.bicep creates (docs/operators.md). Used only with enableEasyAuth.')
param easyAuthClientId string = ''

@secure()
@description('Key that signs the visitor cookie of anonymous callers (SESSION_COOKIE_SECRET). azd generates it once per environment and reuses it on every provision, so visitors keep their identity across deployments; set SESSION_COOKIE_SECRET in the azd environment to choose or rotate it (a new key signs every visitor out).')
@metadata({
  azd: {
    type: 'generate'
    config: {
      length: 48
      noSpecial: true
    }
  }
})
param sessionCookieSecret string

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
// The database and containers, shared with app/cosmos.bicep so names and partition keys are written once.
var cosmosCatalog = loadJsonContent('cosmos-catalog.json')
var functionAppName = 'func-${resourceToken}'
// Easy Auth without the app registration it checks tokens against would let nobody sign in: refuse the deployment.
var easyAuthClientIdChecked = enableEasyAuth && empty(easyAuthClientId) ? fail('enableEasyAuth needs easyAuthClientId (azd env set EASY_AUTH_CLIENT_ID <application id>): see docs/operators.md') : easyAuthClientId
var deploymentContainerName = 'app-package'

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    accountName: 'cosmos-${resourceToken}'
    location: location
    tags: tags
    embeddingDimensions: embeddingDimensions
    vectorIndexType: vectorIndexType
  }
}

module openAi 'app/openai.bicep' = {
  name: 'openai'
  scope: rg
  params: {
    name: 'oai-${resourceToken}'
    location: location
    tags: tags
    embeddingModelName: embeddingModelName
    embeddingModelVersion: embeddingModelVersion
    embeddingDeploymentName: embeddingDeploymentName
    embeddingDeploymentSku: embeddingDeploymentSku
    embeddingDeploymentCapacity: embeddingDeploymentCapacity
    chatModelName: chatModelName
    chatModelVersion: chatModelVersion
    chatDeploymentName: chatDeploymentName
    chatDeploymentSku: chatDeploymentSku
    chatDeploymentCapacity: chatDeploymentCapacity
  }
}

var appSettings = {
  // Functions host: storage and telemetry through the user-assigned identity (no keys; App Insights local auth is off).
  AzureWebJobsStorage__accountName: storage.outputs.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.outputs.clientId};Authorization=AAD'
  // The backends (composition/settings.py); DefaultAzureCredential picks the user-assigned identity by AZURE_CLIENT_ID.
  STORE_BACKEND: 'cosmos'
  EMBEDDING_BACKEND: 'azure-openai'
  CHAT_BACKEND: 'azure-openai'
  AZURE_CLIENT_ID: identity.outputs.clientId
  // Cosmos DB: the trigger's identity-based connection "COSMOS_CONNECTION", which the app's own client reads too.
  COSMOS_CONNECTION__accountEndpoint: cosmos.outputs.endpoint
  COSMOS_CONNECTION__credential: 'managedidentity'
  COSMOS_CONNECTION__clientId: identity.outputs.clientId
  COSMOS_AUTH: 'identity'
  COSMOS_DATABASE: cosmosCatalog.database
  COSMOS_PRODUCTS_CONTAINER: cosmosCatalog.containers.products.name
  COSMOS_LEASES_CONTAINER: cosmosCatalog.containers.leases.name
  COSMOS_DEADLETTER_CONTAINER: cosmosCatalog.containers.deadletter.name
  COSMOS_CACHE_CONTAINER: cosmosCatalog.containers.cache.name
  COSMOS_HISTORY_CONTAINER: cosmosCatalog.containers.history.name
  // The leases container is created above; the trigger cannot create it with an Entra identity.
  COSMOS_CREATE_LEASE_CONTAINER: 'false'
  COSMOS_VECTOR_INDEX_TYPE: vectorIndexType
  // Azure OpenAI, keyless.
  AZURE_OPENAI_ENDPOINT: openAi.outputs.endpoint
  AZURE_OPENAI_API_VERSION: azureOpenAiApiVersion
  AZURE_OPENAI_EMBEDDING_DEPLOYMENT: embeddingDeploymentName
  AZURE_OPENAI_CHAT_DEPLOYMENT: chatDeploymentName
  EMBEDDING_MODEL: embeddingModelName
  EMBEDDING_DIMENSIONS: string(embeddingDimensions)
  // The reconcile timer's schedule (a %RECONCILE_SCHEDULE% binding expression, so the host needs it as a setting).
  RECONCILE_SCHEDULE: '0 */15 * * * *'
  // The chat housekeeping timer's schedule (a %CHAT_CLEANUP_SCHEDULE% binding expression).
  CHAT_CLEANUP_SCHEDULE: '0 */10 * * * *'
  // Who is calling: Easy Auth's X-MS-CLIENT-PRINCIPAL* headers are trusted exactly when Easy Auth runs (it strips
  // client copies of them); everyone else is a visitor with a cookie signed by this key.
  AUTH_TRUST_EASY_AUTH: string(enableEasyAuth)
  SESSION_COOKIE_SECRET: sessionCookieSecret
}

module functionApp 'app/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    appSettings: appSettings
    enableEasyAuth: enableEasyAuth
    easyAuthClientId: easyAuthClientIdChecked
  }
}

// Data roles for the app's identity ...
module appRoles 'app/roles.bicep' = {
  name: 'roles-app'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    principalType: 'ServicePrincipal'
    storageAccountName: storage.outputs.name
    cosmosAccountName: cosmos.outputs.name
    openAiAccountName: openAi.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

// ... and the same for the developer who runs the app locally (Cosmos DB refuses concurrent role assignment
// writes on one account, hence one after the other).
module userRoles 'app/roles.bicep' = if (!empty(principalId)) {
  name: 'roles-user'
  scope: rg
  params: {
    principalId: principalId
    principalType: principalType
    storageAccountName: storage.outputs.name
    cosmosAccountName: cosmos.outputs.name
    openAiAccountName: openAi.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
  dependsOn: [
    appRoles
  ]
}

// azd stores these in .azure/<env>/.env (`azd env get-values`); infra/README.md builds local.settings.json from them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.uri
output AZURE_CLIENT_ID string = identity.outputs.clientId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_COSMOS_ACCOUNT_NAME string = cosmos.outputs.name
output COSMOS_CONNECTION__accountEndpoint string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmosCatalog.database
output COSMOS_VECTOR_INDEX_TYPE string = vectorIndexType
output AZURE_OPENAI_ENDPOINT string = openAi.outputs.endpoint
output AZURE_OPENAI_API_VERSION string = azureOpenAiApiVersion
output AZURE_OPENAI_EMBEDDING_DEPLOYMENT string = embeddingDeploymentName
output AZURE_OPENAI_CHAT_DEPLOYMENT string = chatDeploymentName
output EMBEDDING_MODEL string = embeddingModelName
output EMBEDDING_DIMENSIONS int = embeddingDimensions
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
