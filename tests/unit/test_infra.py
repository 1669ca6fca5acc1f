"""Infra and app agree: `azd up` gives the Function App every setting, container, model and role it needs, and the
access model the app's routes assume.

No Bicep compiler runs here, so ``tests.support.bicep`` reads our own Bicep (infra/ keeps a regular style: one
property per line; see the comment at the top of infra/main.bicep) into plain dicts and lists and resolves
parameters, variables, module arguments and ``loadJsonContent`` lookups to values. What only Azure knows (a module
output such as an endpoint) stays unresolved and is given a placeholder value.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import fields
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

from blueprints.identity import OPERATOR_ROLE
from catalog.model import SLOT_A, SLOT_B
from chat.answer_writer import AnswerWriter
from composition.backends import build_embedder
from composition.containers import VECTOR_PATH
from composition.services import Services
from composition.settings import (
    ChatBackend,
    CosmosAuth,
    EmbeddingBackend,
    Settings,
    SettingsError,
    StoreBackend,
    VectorIndexType,
    load_settings,
)
from tests.app_functions import app_functions
from tests.conftest import REPO
from tests.support.bicep import (
    INFRA,
    Conditional,
    Declaration,
    Expr,
    Loop,
    Scope,
    Unresolved,
    bicep,
    body,
    evaluate,
    expand_loop,
    main_scope,
    module_scope,
    resolve,
    same_binding,
)

# Built-in role definition ids, as Microsoft's built-in roles reference lists them (the same in every tenant).
DOCUMENTED_ROLE_IDS = {
    "storageBlobDataOwner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "storageQueueDataContributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "storageTableDataContributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "cognitiveServicesOpenAIUser": "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
    "monitoringMetricsPublisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}
# Cosmos DB Built-in Data Contributor: a data-plane role definition of every Cosmos DB for NoSQL account.
COSMOS_DATA_CONTRIBUTOR_ROLE_ID = "00000000-0000-0000-0000-000000000002"
# Application ids of Microsoft's first-party applications (the same in every tenant).
FIRST_PARTY_APP_IDS = {"azureCli": "04b07795-8ddb-461a-bbee-02f9e1bf7b46"}

# Settings the Functions host (not composition/settings.py) reads.
HOST_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
# On Flex Consumption these are set by the platform or replaced by functionAppConfig ("Flex Consumption plan
# deprecations" in the Functions app settings reference); setting them breaks or confuses the app.
FLEX_DEPRECATED_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
}
# An identity-based connection names its service by one of these suffixes, per binding type.
IDENTITY_ENDPOINT_SUFFIX = {"cosmosDBTrigger": "accountEndpoint", "cosmosDB": "accountEndpoint"}
SECRET_SETTINGS = {"COSMOS_KEY", "AZURE_OPENAI_API_KEY", "OPENAI_API_KEY"}

# Cosmos DB's flat vector index holds at most 505 dimensions; quantizedFlat and diskANN hold 4096.
FLAT_INDEX_MAX_DIMENSIONS = 505
SQL_DATABASE = "Microsoft.DocumentDB/databaseAccounts/sqlDatabases"


# --- what infra gives the app ---------------------------------------------------------------------------------------


def infra_app_settings() -> dict[str, Any]:
    """``var appSettings`` of main.bicep, by name, as expressions."""
    settings = bicep("main.bicep").vars["appSettings"].value
    assert isinstance(settings, dict) and settings, "main.bicep must declare `var appSettings = { ... }`"
    return settings


def resolved_app_settings(parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The app settings of a deployment with main.bicep's defaults, or with ``parameters``."""
    return {name: resolve(main_scope(parameters), value) for name, value in infra_app_settings().items()}


def placeholder_environment(parameters: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The app settings as the app would see them, with a placeholder where only a deployment knows the value."""
    return {
        name: f"https://placeholder.invalid/{value.text}" if isinstance(value, Unresolved) else str(value)
        for name, value in resolved_app_settings(parameters).items()
    }


def infra_settings(parameters: Mapping[str, Any] | None = None) -> Settings:
    return load_settings(placeholder_environment(parameters))


@pytest.fixture
async def app_services() -> AsyncIterator[Services]:
    """What the app builds from infra's settings: the real Azure OpenAI embedder (no request is sent)."""
    settings = infra_settings()
    embedder = build_embedder(settings)
    # container_specs reads only the settings and the embedder: no store or chat model is needed for it.
    yield Services(settings=settings, store=None, embedder=embedder, chat_model=AnswerWriter())  # type: ignore[arg-type]
    await embedder.close()


def cosmos_catalog() -> dict[str, Any]:
    return json.loads((INFRA / "cosmos-catalog.json").read_text())


def function_bindings() -> Iterator[tuple[str, dict[str, Any]]]:
    for function in app_functions():
        for binding in json.loads(function.get_function_json())["bindings"]:
            yield function.get_function_name(), binding


def settings_the_bindings_name() -> set[str]:
    names = set()
    for _, binding in function_bindings():
        names |= set(re.findall(r"%([^%]+)%", json.dumps(binding)))
    return names


def connections_of_bindings() -> dict[str, str]:
    """Connection name -> binding type, for every binding that names a connection."""
    return {binding["connection"]: binding["type"] for _, binding in function_bindings() if "connection" in binding}


# --- the parser reads what it is meant to read ---------------------------------------------------------------------


def test_the_bicep_reader_understands_every_infra_file() -> None:
    for path in sorted(INFRA.rglob("*.bicep")):
        parsed = bicep(str(path.relative_to(INFRA)))
        assert parsed.declarations, path
    assert resolve(main_scope(), Expr("string(embeddingDimensions)")) == "1536"
    assert resolve(main_scope(), Expr("'rg-${environmentName}'")) == Unresolved("'rg-${environmentName}'")
    assert resolve(main_scope(), Expr("cosmosCatalog.containers.products.name")) == "products"
    scope = module_scope("app/cosmos.bicep")
    assert resolve(scope, Expr("map(catalog.containers.products.fullTextPaths, p => {\n  path: p\n})")) == [
        {"path": "/name"},
        {"path": "/category_name"},
        {"path": "/description"},
    ]
    assert resolve(scope, Expr("empty(catalog.containers.leases.fullTextPaths) ? 'none' : 'some'")) == "none"
    assert resolve(scope, Expr("map(storage.outputs.names, p => p)")) == Unresolved(
        "map(storage.outputs.names, p => p)"
    )
    # Deployment parameter values, logic operators (short-circuiting, as ARM does), and fail() left to Azure.
    assert resolve(main_scope(), Expr("!empty(principalId) || enableEasyAuth")) is False
    assert resolve(main_scope({"enableEasyAuth": True}), Expr("enableEasyAuth && !empty('x')")) is True
    assert resolve(main_scope(), Expr("enableEasyAuth && fail('never evaluated')")) is False
    assert resolve(main_scope(), Expr("true ? fail('stop') : 1")) == Unresolved("fail('stop')")
    with pytest.raises(AssertionError, match="no parameter"):
        main_scope({"enableEasyAuthh": True})
    [extension] = [item for item in bicep("entra/app-registration.bicep").declarations if item.kind == "extension"]
    assert extension.type == "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0"


# --- settings ------------------------------------------------------------------------------------------------------


def test_every_binding_expression_is_an_infra_app_setting() -> None:
    named = settings_the_bindings_name()
    assert named >= {"COSMOS_DATABASE", "COSMOS_PRODUCTS_CONTAINER", "COSMOS_LEASES_CONTAINER"}
    assert named <= set(infra_app_settings()), f"set by no app setting in infra: {named - set(infra_app_settings())}"


def test_every_binding_connection_is_identity_based_with_the_app_identity() -> None:
    settings = infra_app_settings()
    connections = connections_of_bindings()
    assert connections, "the app has a change-feed trigger with a connection"
    for connection, binding_type in connections.items():
        assert connection not in settings, f"{connection} would be a connection string; use identity-based settings"
        suffix = IDENTITY_ENDPOINT_SUFFIX.get(binding_type)
        assert suffix, f"{binding_type} binding: add its identity-based endpoint setting to IDENTITY_ENDPOINT_SUFFIX"
        assert f"{connection}__{suffix}" in settings
        assert settings[f"{connection}__credential"] == "managedidentity"
        # A user-assigned identity must be named, and it must be the one the app itself authenticates with.
        assert settings[f"{connection}__clientId"] == settings["AZURE_CLIENT_ID"]
    assert settings["AzureWebJobsStorage__clientId"] == settings["AZURE_CLIENT_ID"]
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage" not in settings, "host storage must be identity-based, not a connection string"


def test_infra_settings_choose_cosmos_and_azure_openai_and_satisfy_them() -> None:
    settings = infra_settings()
    assert settings.STORE_BACKEND is StoreBackend.COSMOS
    assert settings.EMBEDDING_BACKEND is EmbeddingBackend.AZURE_OPENAI
    assert settings.CHAT_BACKEND is ChatBackend.AZURE_OPENAI
    assert settings.COSMOS_AUTH is CosmosAuth.IDENTITY
    assert settings.COSMOS_CREATE_LEASE_CONTAINER is False
    assert settings.EMBEDDING_DIMENSIONS == 1536
    assert settings.AZURE_CLIENT_ID and settings.COSMOS_CONNECTION__accountEndpoint and settings.AZURE_OPENAI_ENDPOINT


@pytest.mark.parametrize("required", ["COSMOS_CONNECTION__accountEndpoint", "AZURE_OPENAI_ENDPOINT"])
def test_the_settings_check_would_catch_a_setting_infra_dropped(required: str) -> None:
    environment = placeholder_environment()
    assert required in environment
    del environment[required]
    with pytest.raises(SettingsError, match=required):
        load_settings(environment)


def test_every_infra_app_setting_is_one_the_app_or_the_host_reads() -> None:
    app_keys = {item.name for item in fields(Settings)}
    identity_keys = {
        f"{connection}__{suffix}"
        for connection in connections_of_bindings()
        for suffix in ("accountEndpoint", "credential", "clientId")
    }
    unknown = set(infra_app_settings()) - app_keys - HOST_SETTINGS - identity_keys
    assert not unknown, f"no one reads these (a typo is silently ignored): {sorted(unknown)}"


def test_infra_sets_no_secret_and_nothing_flex_consumption_replaces() -> None:
    names = set(infra_app_settings())
    assert not names & SECRET_SETTINGS
    assert not names & FLEX_DEPRECATED_SETTINGS
    for path in INFRA.rglob("*.bicep"):
        text = path.read_text()
        assert "listKeys" not in text and "AccountKey=" not in text, f"{path.name} reads an account key"


def test_app_settings_values_are_strings_or_come_from_azure() -> None:
    for name, value in resolved_app_settings().items():
        assert isinstance(value, str | Unresolved), f"{name} resolves to {value!r}: wrap numbers in string()"


def test_lease_container_auto_creation_stays_off_in_azure() -> None:
    assert infra_app_settings()["COSMOS_CREATE_LEASE_CONTAINER"] == "false"
    [lease_trigger] = [binding for _, binding in function_bindings() if binding["type"] == "cosmosDBTrigger"]
    assert lease_trigger["createLeaseContainerIfNotExists"] is False


# --- Cosmos DB -----------------------------------------------------------------------------------------------------


def infra_containers() -> dict[str, dict[str, Any]]:
    """The container resources app/cosmos.bicep creates, by name, evaluated as ARM would."""
    cosmos = bicep("app/cosmos.bicep")
    created = expand_loop(
        module_scope("app/cosmos.bicep"),
        cosmos.resource("Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers"),
    )
    containers = {}
    for container in created:
        assert container["parent"] == Unresolved("database")  # the sqlDatabases resource above
        assert container["name"] == container["properties"]["resource"]["id"]
        containers[container["name"]] = container["properties"]["resource"]
    return containers


def test_cosmos_bicep_creates_the_database_and_the_containers_of_the_shared_catalog_file() -> None:
    cosmos = bicep("app/cosmos.bicep")
    assert cosmos.vars["catalog"].value == Expr("loadJsonContent('../cosmos-catalog.json')")
    assert bicep("main.bicep").vars["cosmosCatalog"].value == Expr("loadJsonContent('cosmos-catalog.json')")
    database = resolve(module_scope("app/cosmos.bicep"), body(cosmos.resource(SQL_DATABASE)))
    assert database["name"] == database["properties"]["resource"]["id"] == cosmos_catalog()["database"]
    assert set(infra_containers()) == {container["name"] for container in cosmos_catalog()["containers"].values()}


async def test_infra_creates_exactly_the_containers_the_app_uses(app_services: Services) -> None:
    settings = app_services.settings
    specs = app_services.container_specs()
    containers = infra_containers()
    assert set(containers) == set(specs), "infra and the app must create and use the same containers"
    for name, spec in specs.items():
        assert containers[name]["partitionKey"]["paths"] == [spec.partition_key_path], name
        assert ("vectorEmbeddingPolicy" in containers[name]) is (spec.vector is not None), name
        assert ("fullTextPolicy" in containers[name]) is bool(spec.full_text_paths), name
    assert cosmos_catalog()["database"] == settings.COSMOS_DATABASE


async def test_infra_containers_are_exactly_the_bootstrap_definitions(app_services: Services) -> None:
    # store/cosmos/definitions.py defines the containers from the app's own specs (what `python -m
    # store.cosmos_bootstrap` creates and checks); infra must create the very same ones.
    from composition.containers import container_definitions

    definitions = container_definitions(app_services.settings, app_services.embedder.dimensions)
    assert infra_containers() == {definition.name: definition.resource() for definition in definitions}


async def test_the_vector_policy_is_the_one_the_app_writes_and_searches(app_services: Services) -> None:
    specs = {name: spec for name, spec in app_services.container_specs().items() if spec.vector is not None}
    assert {spec.vector.dimensions for spec in specs.values() if spec.vector} == {app_services.embedder.dimensions}
    assert app_services.embedder.dimensions == 1536
    for name, container in infra_containers().items():
        if "vectorEmbeddingPolicy" not in container:
            assert name not in specs
            continue
        spec = specs[name]
        vectors = [spec.vector_at(None), *spec.extra_vectors]
        assert container["vectorEmbeddingPolicy"]["vectorEmbeddings"] == [
            {"path": v.path, "dataType": "float32", "distanceFunction": v.distance, "dimensions": 1536} for v in vectors
        ], name
        policy = container["indexingPolicy"]
        for vector in vectors:
            assert {"path": f"{vector.path}/*"} in policy["excludedPaths"], f"{name} would range-index every vector"
        assert policy["vectorIndexes"] == [
            {"path": v.path, "type": app_services.settings.COSMOS_VECTOR_INDEX_TYPE.value} for v in vectors
        ], name
        assert cosmos_catalog_paths(name) == [v.path for v in vectors]
    # Products carry the second slot a model migration fills, from the start (a vector policy is immutable).
    for name in (app_services.settings.COSMOS_PRODUCTS_CONTAINER, app_services.settings.COSMOS_CACHE_CONTAINER):
        assert [v.path for v in specs[name].extra_vectors] == [SLOT_B.vector_path]
    assert VECTOR_PATH == SLOT_A.vector_path


def cosmos_catalog_paths(container_name: str) -> list[str]:
    [entry] = [c for c in cosmos_catalog()["containers"].values() if c["name"] == container_name]
    return list(entry["vectorPaths"])


async def test_the_full_text_policy_covers_the_fields_hybrid_search_scores(app_services: Services) -> None:
    settings = app_services.settings
    [products] = [spec for spec in app_services.container_specs().values() if spec.full_text_paths]
    assert products.name == settings.COSMOS_PRODUCTS_CONTAINER
    assert list(products.full_text_paths) == ["/" + field for field in settings.EMBED_FIELDS]
    assert cosmos_catalog()["containers"]["products"]["fullTextPaths"] == list(products.full_text_paths)
    container = infra_containers()[products.name]
    assert container["fullTextPolicy"] == {
        "defaultLanguage": "en-US",
        "fullTextPaths": [{"path": path, "language": "en-US"} for path in products.full_text_paths],
    }
    # A full-text index must be on a path of the full-text policy; the vector index stays.
    assert container["indexingPolicy"]["fullTextIndexes"] == [{"path": path} for path in products.full_text_paths]
    assert container["indexingPolicy"]["vectorIndexes"] == [
        {"path": path, "type": settings.COSMOS_VECTOR_INDEX_TYPE.value} for path in (VECTOR_PATH, SLOT_B.vector_path)
    ]
    for name, other in infra_containers().items():
        if name != products.name:
            assert "fullTextPolicy" not in other and "fullTextIndexes" not in other["indexingPolicy"], name


def test_containers_use_an_api_version_that_knows_full_text_policies() -> None:
    # 2024-11-15 has neither `fullTextPolicy` nor `indexingPolicy.fullTextIndexes`; 2025-10-15 is the first stable
    # version with both (Azure/bicep-types-az generated types).
    containers = bicep("app/cosmos.bicep").resource("Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers")
    assert containers.type.split("@")[1] >= "2025-10-15"


def test_vector_size_and_index_type_come_from_the_parameters_the_app_settings_use() -> None:
    # One parameter feeds both the container and the app setting, so overriding it cannot split them.
    scope = module_scope("app/cosmos.bicep")
    settings = infra_app_settings()
    assert same_binding(scope, Expr("vectorIndexType"), main_scope(), settings["COSMOS_VECTOR_INDEX_TYPE"])
    assert same_binding(scope, Expr("embeddingDimensions"), main_scope(), Expr("embeddingDimensions"))
    assert settings["EMBEDDING_DIMENSIONS"] == Expr("string(embeddingDimensions)")


def test_the_offered_vector_index_types_are_ones_the_app_knows_and_fit_the_dimensions() -> None:
    main = bicep("main.bicep")
    offered = main.params["vectorIndexType"].decorators["allowed"]
    assert set(offered) <= {member.value for member in VectorIndexType}
    assert main.params["vectorIndexType"].value == Settings.COSMOS_VECTOR_INDEX_TYPE.value == "quantizedFlat"
    assert bicep("app/cosmos.bicep").params["vectorIndexType"].decorators["allowed"] == offered
    assert "diskANN" in offered
    if main.params["embeddingDimensions"].decorators["maxValue"] > FLAT_INDEX_MAX_DIMENSIONS:
        assert "flat" not in offered


def test_the_chat_cache_and_history_have_ttl_on_so_entries_expire_by_themselves() -> None:
    settings = infra_settings()
    containers = infra_containers()
    expiring = {settings.COSMOS_CACHE_CONTAINER, settings.COSMOS_HISTORY_CONTAINER}
    assert all(containers[name]["defaultTtl"] == -1 for name in expiring)
    assert all("defaultTtl" not in containers[name] for name in containers if name not in expiring)
    assert containers[settings.COSMOS_LEASES_CONTAINER]["partitionKey"]["paths"] == ["/id"]


def test_cosmos_is_serverless_nosql_with_vector_and_full_text_search_and_entra_id_only() -> None:
    account = body(bicep("app/cosmos.bicep").resource("Microsoft.DocumentDB/databaseAccounts"))
    properties = account["properties"]
    assert account["kind"] == "GlobalDocumentDB"
    assert properties["disableLocalAuth"] is True
    assert {"name": "EnableNoSQLVectorSearch"} in properties["capabilities"]
    # FullTextScore and RRF (hybrid search) need the full-text capability as well as the vector one.
    assert {"name": "EnableNoSQLFullTextSearch"} in properties["capabilities"]
    assert {"name": "EnableServerless"} in properties["capabilities"]


# --- Azure OpenAI --------------------------------------------------------------------------------------------------


def test_openai_is_entra_id_only_with_a_custom_subdomain() -> None:
    account = body(bicep("app/openai.bicep").resource("Microsoft.CognitiveServices/accounts"))
    assert account["kind"] == "OpenAI"
    assert account["properties"]["disableLocalAuth"] is True
    assert account["properties"]["customSubDomainName"] == Expr("name")


@pytest.mark.parametrize(
    ("deployment", "deployment_setting", "model_setting"),
    [
        ("embeddingDeployment", "AZURE_OPENAI_EMBEDDING_DEPLOYMENT", "EMBEDDING_MODEL"),
        ("chatDeployment", "AZURE_OPENAI_CHAT_DEPLOYMENT", None),
    ],
)
def test_openai_deploys_what_the_app_calls(deployment: str, deployment_setting: str, model_setting: str | None) -> None:
    openai = bicep("app/openai.bicep")
    scope = module_scope("app/openai.bicep")
    [resource] = [
        item for item in openai.resources("Microsoft.CognitiveServices/accounts/deployments") if item.name == deployment
    ]
    created = body(resource)
    settings = infra_app_settings()
    assert same_binding(scope, created["name"], main_scope(), settings[deployment_setting])
    if model_setting is not None:
        assert same_binding(scope, created["properties"]["model"]["name"], main_scope(), settings[model_setting])
    assert resolve(scope, created["properties"]["model"]["version"])


def test_the_default_models_are_text_embedding_3_small_and_gpt_4o() -> None:
    settings = infra_settings()
    assert settings.EMBEDDING_MODEL == settings.AZURE_OPENAI_EMBEDDING_DEPLOYMENT == "text-embedding-3-small"
    assert resolve(main_scope(), Expr("chatModelName")) == settings.AZURE_OPENAI_CHAT_DEPLOYMENT == "gpt-4o"


@pytest.mark.parametrize("dimensions", [1, 256, 1536])
async def test_every_vector_size_infra_accepts_is_one_the_embedding_model_makes(dimensions: int) -> None:
    limits = bicep("main.bicep").params["embeddingDimensions"].decorators
    assert limits["minValue"] <= dimensions <= limits["maxValue"] == 1536
    environment = placeholder_environment() | {"EMBEDDING_DIMENSIONS": str(dimensions)}
    embedder = build_embedder(load_settings(environment))
    try:
        assert embedder.dimensions == dimensions
    finally:
        await embedder.close()


# --- identity and roles --------------------------------------------------------------------------------------------


def test_role_definition_ids_are_exactly_the_documented_built_in_ids() -> None:
    roles = bicep("app/roles.bicep")
    assert roles.vars["roleIds"].value == DOCUMENTED_ROLE_IDS
    assert roles.vars["cosmosDataContributorRoleId"].value == COSMOS_DATA_CONTRIBUTOR_ROLE_ID
    assert bicep("entra/app-registration.bicep").vars["azureCliAppId"].value == FIRST_PARTY_APP_IDS["azureCli"]
    known = set(DOCUMENTED_ROLE_IDS.values()) | {COSMOS_DATA_CONTRIBUTOR_ROLE_ID} | set(FIRST_PARTY_APP_IDS.values())
    for path in INFRA.rglob("*.bicep"):
        guids = set(re.findall(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", path.read_text()))
        assert guids <= known, f"{path.name} has ids that are no documented built-in role or app: {guids - known}"


def test_every_role_is_assigned_on_its_resource() -> None:
    roles = bicep("app/roles.bicep")
    text = roles.path.read_text()
    for name in DOCUMENTED_ROLE_IDS:
        assert len(re.findall(rf"\broleIds\.{name}\b", text)) >= 1, f"{name} is declared but never assigned"
    assignments = {item.name: item for item in roles.resources("Microsoft.Authorization/roleAssignments")}
    assert isinstance(assignments["storageRoles"].value, Loop)
    assert assignments["storageRoles"].value.header == "roleId in storageRoleIds"
    assert body(assignments["storageRoles"])["scope"] == Expr("storage")
    assert roles.vars["storageRoleIds"].value == [
        Expr("roleIds.storageBlobDataOwner"),
        Expr("roleIds.storageQueueDataContributor"),
        Expr("roleIds.storageTableDataContributor"),
    ]
    assert body(assignments["openAiUser"])["scope"] == Expr("openAi")
    assert body(assignments["metricsPublisher"])["scope"] == Expr("applicationInsights")
    cosmos = body(roles.resource("Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments"))
    assert cosmos["properties"]["roleDefinitionId"] == Expr(
        "'${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributorRoleId}'"
    )
    assert cosmos["properties"]["scope"] == Expr("cosmos.id")


def test_the_app_identity_and_the_optional_developer_get_the_roles() -> None:
    main = bicep("main.bicep")
    calls = [item for item in main.declarations if item.kind == "module" and item.type == "app/roles.bicep"]
    arguments = {item.name: body(item)["params"] for item in calls}
    assert arguments["appRoles"]["principalId"] == Expr("identity.outputs.principalId")
    assert arguments["appRoles"]["principalType"] == "ServicePrincipal"
    user = next(item for item in calls if item.name == "userRoles")
    assert isinstance(user.value, Conditional) and user.value.condition == "!empty(principalId)"
    assert arguments["userRoles"]["principalId"] == Expr("principalId")
    assert main.params["principalId"].value == ""


# --- hosting -------------------------------------------------------------------------------------------------------


def test_the_function_app_is_flex_consumption_python_3_11_with_the_user_assigned_identity() -> None:
    app = bicep("app/functionapp.bicep")
    scope = module_scope("app/functionapp.bicep")
    plan = body(app.resource("Microsoft.Web/serverfarms"))
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = body(app.resource("Microsoft.Web/sites"))
    config = site["properties"]["functionAppConfig"]
    assert resolve(scope, config["runtime"]) == {"name": "python", "version": "3.11"}
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains("3.11"), f"the app (requires-python {requires}) cannot run on 3.11"
    assert site["identity"]["type"] == "UserAssigned"
    assert config["deployment"]["storage"]["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": Expr("identityId"),
    }
    assert body(bicep("main.bicep").module("app/functionapp.bicep"))["params"]["identityId"] == Expr(
        "identity.outputs.id"
    )
    settings = body(site_config("appsettings"))
    assert same_binding(scope, settings["properties"], main_scope(), Expr("appSettings"))


def test_storage_and_telemetry_accept_identities_only() -> None:
    storage = body(bicep("app/storage.bicep").resource("Microsoft.Storage/storageAccounts"))
    assert storage["properties"]["allowSharedKeyAccess"] is False
    insights = body(bicep("app/monitoring.bicep").resource("Microsoft.Insights/components"))
    assert insights["properties"]["DisableLocalAuth"] is True
    assert resolve(main_scope(), infra_app_settings()["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]) == Unresolved(
        "'ClientId=${identity.outputs.clientId};Authorization=AAD'"
    )


def azure_yaml_services() -> dict[str, dict[str, str]]:
    """The services of azure.yaml (two-space indented, scalar values), without a YAML library."""
    services: dict[str, dict[str, str]] = {}
    section = current = None
    for line in (REPO / "azure.yaml").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().partition(":")
        if indent == 0:
            section = key
        elif section == "services" and indent == 2:
            current = services.setdefault(key, {})
        elif section == "services" and indent == 4 and current is not None:
            current[key] = value.strip().strip("'\"")
    return services


def test_azure_yaml_deploys_this_folder_as_a_python_function_to_the_tagged_app() -> None:
    services = azure_yaml_services()
    assert list(services) == [bicep("app/functionapp.bicep").vars["serviceName"].value]
    [service] = services.values()
    assert service == {"project": ".", "language": "python", "host": "function", "remoteBuild": "true"}
    site = body(bicep("app/functionapp.bicep").resource("Microsoft.Web/sites"))
    assert "'azd-service-name': serviceName" in site["tags"].text


# --- access: shoppers, operators and Easy Auth -----------------------------------------------------------------------

#: A deployment with Easy Auth on (main.bicep parameters, as `azd env set` would pass them).
EASY_AUTH_ON = {"enableEasyAuth": True, "easyAuthClientId": "test-client-id"}
OPERATORS_DOC = REPO / "docs" / "operators.md"


def http_triggers() -> dict[str, dict[str, Any]]:
    """Every HTTP trigger binding of the app, by function name."""
    return {name: binding for name, binding in function_bindings() if binding["type"] == "httpTrigger"}


def writes_the_catalog_or_operates_the_pipeline(trigger: Mapping[str, Any]) -> bool:
    """Any method but a read on a products route, every route under embeddings/, and the cost ledger (metrics)."""
    route, methods = trigger["route"], {method.upper() for method in trigger["methods"]}
    writes = route.split("/")[0] == "products" and bool(methods - {"GET", "HEAD"})
    return writes or route.startswith("embeddings/") or route == "metrics"


def site_config(name: str) -> Declaration:
    """The ``Microsoft.Web/sites/config`` resource of app/functionapp.bicep named ``name`` (appsettings, ...)."""
    app = bicep("app/functionapp.bicep")
    [match] = [item for item in app.resources("Microsoft.Web/sites/config") if body(item)["name"] == name]
    return match


def deployed_easy_auth(parameters: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The authsettingsV2 resource a deployment with ``parameters`` creates, evaluated; None when it creates none."""
    declaration = site_config("authsettingsV2")
    assert isinstance(declaration.value, Conditional), "Easy Auth must stay optional (enableEasyAuth)"
    scope = module_scope("app/functionapp.bicep", parameters)
    deployed = evaluate(scope, declaration.value.condition, {})
    assert isinstance(deployed, bool), f"cannot tell whether Easy Auth is deployed: {declaration.value.condition}"
    return resolve(scope, declaration.value.body) if deployed else None


def looks_random(word: str) -> bool:
    """A long word of a key's alphabet mixing lower case, upper case and digits, or a long run of hex digits."""
    if len(word) < 20 or not re.fullmatch(r"[A-Za-z0-9+/=_-]+", word):
        return False
    mixed = any(c.islower() for c in word) and any(c.isupper() for c in word) and any(c.isdigit() for c in word)
    return mixed or bool(re.fullmatch(r"[0-9a-fA-F]{32,}", word))


def looks_like_a_secret(value: str) -> bool:
    """A connection string or URL with a key, a JWT, a private key, or a random-looking word (a key, a password)."""
    lowered = value.lower()
    if any(marker in lowered for marker in ("accountkey=", "sharedaccesskey=", "sig=", "password=", "-----begin")):
        return True
    if re.search(r"\beyJ[\w-]{10,}\.", value):
        return True
    return any(looks_random(word) for word in re.split(r"[\s;,&?=]+", value))


def test_routes_that_write_the_catalog_or_operate_the_pipeline_need_a_key_and_shopper_routes_none() -> None:
    """Easy Auth lets anonymous callers through and the page holds no key, so the function's auth level is the gate."""
    triggers = http_triggers()
    operator_routes = {
        name for name, trigger in triggers.items() if writes_the_catalog_or_operates_the_pipeline(trigger)
    }
    assert {"product_write", "products_bulk"} <= operator_routes
    for name, trigger in triggers.items():
        where = f"{name} ({' '.join(trigger['methods'])} /api/{trigger['route']})"
        if name in operator_routes:
            assert trigger["authLevel"] in ("FUNCTION", "ADMIN"), f"{where} writes the catalog: it needs a key"
        else:
            assert trigger["authLevel"] == "ANONYMOUS", f"{where} is a shopper route: no sign-in, no key"


def test_the_operator_rule_sees_writes_and_the_pipeline_but_not_reads() -> None:
    assert writes_the_catalog_or_operates_the_pipeline({"route": "products/{id}", "methods": ["PUT", "DELETE"]})
    assert writes_the_catalog_or_operates_the_pipeline({"route": "products", "methods": ["post"]})
    assert writes_the_catalog_or_operates_the_pipeline({"route": "embeddings/status", "methods": ["GET"]})
    assert writes_the_catalog_or_operates_the_pipeline({"route": "metrics", "methods": ["GET"]})
    assert not writes_the_catalog_or_operates_the_pipeline({"route": "products/{id}", "methods": ["GET"]})
    assert not writes_the_catalog_or_operates_the_pipeline({"route": "chat/{session_id}", "methods": ["DELETE"]})


def test_easy_auth_is_off_unless_asked_for() -> None:
    assert bicep("main.bicep").params["enableEasyAuth"].value is False
    assert deployed_easy_auth() is None
    assert infra_settings().AUTH_TRUST_EASY_AUTH is False


@pytest.mark.parametrize("enabled", [False, True])
def test_the_app_trusts_identity_headers_exactly_when_easy_auth_runs(enabled: bool) -> None:
    parameters = EASY_AUTH_ON if enabled else {}
    runs = deployed_easy_auth(parameters) is not None
    assert runs is enabled
    assert resolved_app_settings(parameters)["AUTH_TRUST_EASY_AUTH"] == ("true" if runs else "false")
    assert infra_settings(parameters).AUTH_TRUST_EASY_AUTH is runs


def test_the_app_settings_go_live_only_after_easy_auth_strips_client_identity_headers() -> None:
    easy_auth = site_config("authsettingsV2")
    assert Expr(easy_auth.name) in body(site_config("appsettings"))["dependsOn"]


def test_easy_auth_lets_unauthenticated_shoppers_through_and_verifies_tokens_for_the_app_registration() -> None:
    deployed = deployed_easy_auth(EASY_AUTH_ON)
    assert deployed is not None
    config = deployed["properties"]
    assert config["platform"]["enabled"] is True
    # Shoppers are never sent to a sign-in page or refused: the app decides (anonymous routes, keys, the role).
    assert config["globalValidation"] == {
        "requireAuthentication": False,
        "unauthenticatedClientAction": "AllowAnonymous",
    }
    entra = config["identityProviders"]["azureActiveDirectory"]
    assert entra["enabled"] is True
    assert entra["registration"]["clientId"] == EASY_AUTH_ON["easyAuthClientId"]
    assert EASY_AUTH_ON["easyAuthClientId"] in entra["validation"]["allowedAudiences"]
    # v2 tokens of this tenant only (the registration asks for v2 tokens: requestedAccessTokenVersion 2).
    issuer = entra["registration"]["openIdIssuer"]
    assert isinstance(issuer, Unresolved) and "tenant().tenantId" in issuer.text and issuer.text.endswith("/v2.0'")
    assert "clientSecretSettingName" not in entra["registration"], "token validation needs no client secret"
    # No token store: a blob store would need a SAS URL secret, and the app reads only the identity headers.
    assert config["login"]["tokenStore"] == {"enabled": False}


def test_easy_auth_without_an_app_registration_fails_the_deployment_instead_of_locking_everyone_out() -> None:
    passed = body(bicep("main.bicep").module("app/functionapp.bicep"))["params"]
    assert passed["enableEasyAuth"] == Expr("enableEasyAuth")
    assert passed["easyAuthClientId"] == Expr("easyAuthClientIdChecked")
    refused = resolve(main_scope({"enableEasyAuth": True}), Expr("easyAuthClientIdChecked"))
    assert isinstance(refused, Unresolved) and refused.text.startswith("fail('enableEasyAuth needs easyAuthClientId")
    assert resolve(main_scope(EASY_AUTH_ON), Expr("easyAuthClientIdChecked")) == "test-client-id"
    assert resolve(main_scope(), Expr("easyAuthClientIdChecked")) == ""


def test_azd_passes_the_access_settings_from_its_environment() -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(parameters) <= set(bicep("main.bicep").params)
    assert parameters["enableEasyAuth"]["value"] == "${ENABLE_EASY_AUTH=false}"
    assert parameters["easyAuthClientId"]["value"] == "${EASY_AUTH_CLIENT_ID}"
    # Unset, this is empty and azd falls back to the value it generated for the parameter (below).
    assert parameters["sessionCookieSecret"]["value"] == "${SESSION_COOKIE_SECRET}"


def test_the_cookie_key_is_a_secure_parameter_azd_generates_once_and_reuses() -> None:
    main = bicep("main.bicep")
    parameter = main.params["sessionCookieSecret"]
    assert "secure" in parameter.decorators
    # A default (newGuid()) would be a new key on every deployment, and every visitor a stranger after it.
    assert parameter.value is None
    generate = parameter.decorators["metadata"]["azd"]
    assert generate["type"] == "generate" and generate["config"]["length"] >= 32
    assert infra_app_settings()["SESSION_COOKIE_SECRET"] == Expr("sessionCookieSecret")
    # The settings reach the app through a module parameter: a non-secure one is kept in the deployment history.
    assert same_binding(module_scope("app/functionapp.bicep"), Expr("appSettings"), main_scope(), Expr("appSettings"))
    assert "secure" in bicep("app/functionapp.bicep").params["appSettings"].decorators


@pytest.mark.parametrize("parameters", [{}, EASY_AUTH_ON], ids=["defaults", "easy-auth"])
def test_no_app_setting_or_parameter_default_in_infra_is_a_literal_secret(parameters: Mapping[str, Any]) -> None:
    for name, value in resolved_app_settings(parameters).items():
        text = value.text if isinstance(value, Unresolved) else value
        assert not looks_like_a_secret(text), f"{name} = {text!r} looks like a secret: use a @secure() parameter"
    for path in INFRA.rglob("*.bicep"):
        for name, parameter in bicep(str(path.relative_to(INFRA))).params.items():
            if "secure" in parameter.decorators:
                assert parameter.value is None, f"{path.name}: @secure() {name} has a default in the repository"
            elif isinstance(parameter.value, str):
                assert not looks_like_a_secret(parameter.value), f"{path.name}: {name} defaults to a secret"
    for name, parameter in json.loads((INFRA / "main.parameters.json").read_text())["parameters"].items():
        assert re.fullmatch(r"\$\{[A-Z_]+(=[\w-]*)?\}", parameter["value"]), f"main.parameters.json: {name}"


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        ("DefaultEndpointsProtocol=https;AccountName=st1;AccountKey=abc==", True),
        ("https://st1.blob.core.windows.net/c?sv=2024-11-04&sig=abc%3D", True),
        ("eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln", True),
        ("q8Wm2ZrT4vXk9LpN3bHs7YdF6gJc1RaE5uKw0MnQ", True),  # what azd generates for sessionCookieSecret
        ("N2I5ZTM0YjEtYWQ0Zi00YjZlLWI0ZGEtOWRhYjNmZTk1ZDc3", True),  # base64 of a key
        ("3f9a2c7e1b4d8f6a0c5e9b2d7f1a4c8e", True),  # a hex key
        ("04b07795-8ddb-461a-bbee-02f9e1bf7b46", False),  # an application id
        ("AzureWebJobsStorage__accountName", False),
        ("text-embedding-3-small", False),
        ("0 */15 * * * *", False),
        ("managedidentity", False),
        ("https://placeholder.invalid/cosmos.outputs.endpoint", False),
        ("'ClientId=${identity.outputs.clientId};Authorization=AAD'", False),
    ],
)
def test_the_secret_detector_tells_keys_from_settings(value: str, secret: bool) -> None:
    assert looks_like_a_secret(value) is secret


def test_azd_up_never_needs_microsoft_graph() -> None:
    """Creating an app registration needs Entra rights a resource deployment does not: it stays a separate step."""
    for path in INFRA.rglob("*.bicep"):
        relative = str(path.relative_to(INFRA))
        if relative.startswith("entra/"):
            continue
        parsed = bicep(relative)
        assert not [item for item in parsed.declarations if item.kind == "extension"], relative
        assert not [item for item in parsed.declarations if item.kind == "module" and "entra/" in item.type], relative


def entra_scope() -> Scope:
    return Scope(bicep("entra/app-registration.bicep"), parameters={"uniqueName": "catalog-search-test"})


def test_the_app_registration_template_declares_the_role_the_app_checks() -> None:
    entra = bicep("entra/app-registration.bicep")
    scope = entra_scope()
    app = body(entra.declared("app"))
    [role] = resolve(scope, app["appRoles"])
    assert role["value"] == OPERATOR_ROLE
    assert role["allowedMemberTypes"] == ["User", "Application"]  # people, and automation with its own identity
    assert role["isEnabled"] is True
    assert role["id"] == Unresolved("guid(uniqueName, 'Catalog.Operator')")  # stable across redeployments
    assert app["signInAudience"] == "AzureADMyOrg"
    assignments = entra.declared("operators")
    assert isinstance(assignments.value, Loop) and assignments.value.header == "principalId in operatorPrincipalIds"
    assert body(assignments)["appRoleId"] == Expr("operatorRoleId")
    assert body(assignments)["resourceId"] == Expr("servicePrincipal.id")
    assert body(entra.declared("servicePrincipal"))["appId"] == Expr("app.appId")
    assert entra.named("output")["clientId"].value == Expr("app.appId")


def test_the_app_registration_issues_the_v2_tokens_easy_auth_accepts_to_the_azure_cli() -> None:
    entra = bicep("entra/app-registration.bicep")
    scope = entra_scope()
    declarations = entra.resources("Microsoft.Graph/applications")
    assert [item.name for item in declarations] == ["app", "appPreAuthorization"]
    assert body(declarations[1])["uniqueName"] == Expr("app.uniqueName")  # the same registration, after the first
    for declaration in declarations:
        assert body(declaration)["api"]["requestedAccessTokenVersion"] == 2, declaration.name
    api = resolve(scope, body(entra.declared("appPreAuthorization"))["api"])
    [scope_definition] = api["oauth2PermissionScopes"]
    assert api["preAuthorizedApplications"] == [
        {"appId": FIRST_PARTY_APP_IDS["azureCli"], "delegatedPermissionIds": [scope_definition["id"]]}
    ]


def shell_heredoc(document: str, file_name: str) -> str:
    """The text a ``cat > <file_name> <<EOF ... EOF`` block of ``document`` writes."""
    match = re.search(rf"cat > {re.escape(file_name)} <<'?EOF'?\n(.*?)\nEOF\n", document, re.S)
    assert match, f"no heredoc writing {file_name}"
    return match.group(1)


def test_the_documented_az_ad_app_role_is_the_one_the_template_declares() -> None:
    """docs/operators.md gives the `az ad app update --app-roles` JSON for a registration made without the template."""
    document = OPERATORS_DOC.read_text()
    assert 'az ad app update --id "$CLIENT_ID" --app-roles @operator-role.json' in document
    new_id = "$(python3 -c 'import uuid; print(uuid.uuid4())')"
    written = shell_heredoc(document, "operator-role.json").replace(new_id, "x")
    [documented] = json.loads(written)
    [declared] = resolve(entra_scope(), body(bicep("entra/app-registration.bicep").declared("app"))["appRoles"])
    assert {key: value for key, value in documented.items() if key != "id"} == {
        key: value for key, value in declared.items() if key != "id"
    }
