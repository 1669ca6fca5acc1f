// The Flex Consumption (FC1) plan and the Python 3.11 function app. On Flex the runtime lives in
// functionAppConfig.runtime, so FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION are not app settings;
// the deployment package is read from a blob container with the user-assigned identity. The app settings come
// whole from ../main.bicep (`var appSettings`). With enableEasyAuth, App Service authentication (Easy Auth) with
// Microsoft Entra ID runs in front of the app and lets unauthenticated requests through.
param name string
param planName string
param location string
param tags object

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Blob endpoint of the app storage account (ends with /).')
param storageBlobEndpoint string

@description('Blob container of the deployment package.')
param deploymentContainerName string

param maximumInstanceCount int
param instanceMemoryMB int

// Secure because it carries SESSION_COOKIE_SECRET: a module parameter that is not secure is kept in plain text in
// the deployment history.
@secure()
@description('Every app setting, built in ../main.bicep.')
param appSettings object

@description('Run Easy Auth with Microsoft Entra ID in front of the app (unauthenticated requests still pass).')
param enableEasyAuth bool

@description('Application (client) id of the Entra app registration whose tokens Easy Auth accepts.')
param easyAuthClientId string

// The service name azure.yaml deploys to (azd finds the app by this tag).
var serviceName = 'api'
var pythonVersion = '3.11'

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
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
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
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// Easy Auth verifies a caller's Entra token when one is sent and passes the caller on to the app in the
// X-MS-CLIENT-PRINCIPAL* headers (stripping any a client sent); it never turns a caller away: shopper routes are
// anonymous, and the app decides who may write (function keys, the Catalog.Operator app role). No token store: the
// app reads only those headers, Flex Consumption has no persistent file system for one, and a blob token store
// would need a SAS URL (a secret) on a storage account that refuses shared keys. Tokens must be v2 (the app
// registration's requestedAccessTokenVersion 2): their issuer is the v2.0 one below, their audience the client id.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = if (enableEasyAuth) {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: easyAuthClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            easyAuthClientId
            'api://${easyAuthClientId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

// After Easy Auth: AUTH_TRUST_EASY_AUTH=true must never be live while client-sent identity headers still get through.
resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: appSettings
  dependsOn: [
    authSettings
  ]
}

output name string = site.name
output uri string = 'https://${site.properties.defaultHostName}'
