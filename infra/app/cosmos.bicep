// Cosmos DB for NoSQL, serverless, Entra ID only (disableLocalAuth), with vector and full-text search, and the
// database and every container the app uses (../cosmos-catalog.json): products and the chat cache carry a vector
// policy, products a full-text policy and indexes on the fields hybrid search scores by BM25 (its `fullTextPaths`:
// the app's EMBED_FIELDS), the leases container exists up front because the trigger cannot create it with an
// identity, and the cache and history have TTL on (defaultTtl -1: no default expiry) so each entry expires by its own `ttl`
// (CHAT_CACHE_TTL_SECONDS).
//
// Vector embedding policies and vector indexes cannot be changed on an existing container: a new dimension count
// or index type needs new containers (and a re-embed). Full-text policies and indexes can change in place.
// Containers use API 2025-10-15: the first stable version with both `fullTextPolicy` and
// `indexingPolicy.fullTextIndexes` (2024-11-15 has neither).
param accountName string
param location string
param tags object

@description('Vector length of the embedding model (EMBEDDING_DIMENSIONS).')
param embeddingDimensions int

@description('Vector index of the vector containers (COSMOS_VECTOR_INDEX_TYPE).')
@allowed([
  'quantizedFlat'
  'diskANN'
])
param vectorIndexType string

var catalog = loadJsonContent('../cosmos-catalog.json')

// The language of every full-text path (store/cosmos_bootstrap.py FULL_TEXT_LANGUAGE).
var fullTextLanguage = 'en-US'

var plainIndexingPolicy = {
  indexingMode: 'consistent'
  automatic: true
  includedPaths: [
    {
      path: '/*'
    }
  ]
  excludedPaths: [
    {
      path: '/"_etag"/?'
    }
  ]
}

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: [
      {
        name: 'EnableServerless'
      }
      {
        name: 'EnableNoSQLVectorSearch'
      }
      {
        name: 'EnableNoSQLFullTextSearch'
      }
    ]
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: catalog.database
  properties: {
    resource: {
      id: catalog.database
    }
  }
}

// A container with `fullTextPaths` gets a full-text policy and a full-text index on each (map() with a lambda: what
// Bicep's loop documentation prescribes for looping over properties inside a resource loop).
resource containers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2025-10-15' = [
  for item in items(catalog.containers): {
    parent: database
    name: item.value.name
    properties: {
      resource: union(
        {
          id: item.value.name
          partitionKey: {
            paths: [
              item.value.partitionKeyPath
            ]
            kind: 'Hash'
            version: 2
          }
          // Vectors are kept out of the range index (it would cost RUs for nothing) and get a vector index each.
          indexingPolicy: union(
            empty(item.value.vectorPaths) ? plainIndexingPolicy : {
              indexingMode: 'consistent'
              automatic: true
              includedPaths: [
                {
                  path: '/*'
                }
              ]
              excludedPaths: concat(
                [
                  {
                    path: '/"_etag"/?'
                  }
                ],
                map(item.value.vectorPaths, vectorPath => {
                  path: '${vectorPath}/*'
                })
              )
              vectorIndexes: map(item.value.vectorPaths, vectorPath => {
                path: vectorPath
                type: vectorIndexType
              })
            },
            empty(item.value.fullTextPaths) ? {} : {
              fullTextIndexes: map(item.value.fullTextPaths, textPath => {
                path: textPath
              })
            }
          )
        },
        // The vectors the app writes: products and the cache also get the second slot a model migration fills (a vector policy
        // cannot change once the container exists, so it is there from the start).
        empty(item.value.vectorPaths) ? {} : {
          vectorEmbeddingPolicy: {
            vectorEmbeddings: map(item.value.vectorPaths, vectorPath => {
              path: vectorPath
              dataType: 'float32'
              distanceFunction: 'cosine'
              dimensions: embeddingDimensions
            })
          }
        },
        empty(item.value.fullTextPaths) ? {} : {
          fullTextPolicy: {
            defaultLanguage: fullTextLanguage
            fullTextPaths: map(item.value.fullTextPaths, textPath => {
              path: textPath
              language: fullTextLanguage
            })
          }
        },
        item.value.defaultTtl == null ? {} : {
          defaultTtl: item.value.defaultTtl
        }
      )
    }
  }
]

output name string = account.name
output endpoint string = account.properties.documentEndpoint
