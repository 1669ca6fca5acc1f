// The Microsoft Entra app registration Easy Auth checks tokens against (main.bicep `easyAuthClientId`), with the
// Catalog.Operator app role the app requires for catalog writes from a signed-in caller (blueprints/identity.py).
//
// Not part of `azd up`: it needs rights in Microsoft Entra ID (registering an application, assigning its roles) that
// deploying Azure resources does not, and the Microsoft Graph Bicep extension (restored from mcr.microsoft.com).
// Deploy it once per environment, then hand its clientId to azd (docs/operators.md):
//
//   az deployment group create -g rg-<env> -f infra/entra/app-registration.bicep \
//     -p uniqueName=catalog-search-<env> operatorPrincipalIds="['<object id>']" --query properties.outputs
//   azd env set EASY_AUTH_CLIENT_ID <clientId> && azd env set ENABLE_EASY_AUTH true && azd provision
//
// Without Graph permissions, create the same registration with `az ad app` (docs/operators.md lists the commands).
extension 'br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0'

@description('Tenant-wide unique key of the registration (one per environment); redeploying updates it in place.')
param uniqueName string

@description('Display name of the registration and its enterprise application.')
param displayName string = 'Catalog search (${uniqueName})'

@description('Object ids of users or service principals (automation) to make operators: they get the Catalog.Operator role.')
param operatorPrincipalIds array = []

// The role's value is what the app compares (blueprints/identity.py OPERATOR_ROLE); its id is derived, so
// redeploying keeps it.
var operatorRoleId = guid(uniqueName, 'Catalog.Operator')
var operatorRole = {
  id: operatorRoleId
  value: 'Catalog.Operator'
  displayName: 'Catalog operator'
  description: 'Write the product catalog and operate the embedding pipeline.'
  allowedMemberTypes: [
    'User'
    'Application'
  ]
  isEnabled: true
}
var userImpersonationScope = {
  id: guid(uniqueName, 'user_impersonation')
  value: 'user_impersonation'
  type: 'User'
  isEnabled: true
  adminConsentDisplayName: 'Call the catalog search API'
  adminConsentDescription: 'Lets the signed-in user call the catalog search API.'
  userConsentDisplayName: 'Call the catalog search API'
  userConsentDescription: 'Lets the app call the catalog search API as you.'
}
// Microsoft Azure CLI, a Microsoft first-party application: pre-authorized for the scope above, so an operator's
// `az account get-access-token --resource <clientId>` needs no consent prompt.
var azureCliAppId = '04b07795-8ddb-461a-bbee-02f9e1bf7b46'

// v2 access tokens: issuer https://login.microsoftonline.com/<tenant>/v2.0 and audience the client id, which is what
// the Easy Auth configuration in app/functionapp.bicep accepts.
resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMyOrg'
  appRoles: [
    operatorRole
  ]
  api: {
    requestedAccessTokenVersion: 2
    oauth2PermissionScopes: [
      userImpersonationScope
    ]
  }
}

// A scope can be pre-authorized only once it exists, so a second declaration of the same registration (same
// uniqueName, applied after the first) adds the Azure CLI to it.
resource appPreAuthorization 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: app.uniqueName
  displayName: displayName
  api: {
    requestedAccessTokenVersion: 2
    oauth2PermissionScopes: [
      userImpersonationScope
    ]
    preAuthorizedApplications: [
      {
        appId: azureCliAppId
        delegatedPermissionIds: [
          userImpersonationScope.id
        ]
      }
    ]
  }
}

// The enterprise application: role assignments live here, and tokens carry the roles assigned on it.
resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
}

resource operators 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for principalId in operatorPrincipalIds: {
    appRoleId: operatorRoleId
    principalId: principalId
    resourceId: servicePrincipal.id
  }
]

output clientId string = app.appId
output servicePrincipalId string = servicePrincipal.id
output operatorRoleId string = operatorRoleId
