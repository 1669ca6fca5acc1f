"""Settings: one object, validated at start-up with a one-line message naming the key and an example."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from composition.settings import (
    EmbeddingBackend,
    Settings,
    SettingsError,
    StoreBackend,
    load_settings,
)
from composition.settings_text import resolve_app_setting, settings_table
from tests.conftest import REPO


def test_defaults_run_fully_offline() -> None:
    settings = load_settings({})
    assert settings.STORE_BACKEND is StoreBackend.LOCAL
    assert settings.EMBEDDING_BACKEND is EmbeddingBackend.LOCAL
    assert settings.EMBED_FIELDS == ("name", "category_name", "description")


def test_values_are_parsed_from_strings() -> None:
    settings = load_settings({"SEARCH_MAX_K": "20", "EMBED_FIELDS": "description, name", "STORE_BACKEND": "LOCAL"})
    assert settings.SEARCH_MAX_K == 20
    assert settings.EMBED_FIELDS == ("description", "name")


@pytest.mark.parametrize(
    ("env", "key", "example"),
    [
        ({"STORE_BACKEND": "mongo"}, "STORE_BACKEND", "STORE_BACKEND=local"),
        ({"SEARCH_MAX_K": "lots"}, "SEARCH_MAX_K", "SEARCH_MAX_K=50"),
        ({"SEARCH_MAX_K": "0"}, "SEARCH_MAX_K", "between 1 and 1000"),
        ({"EMBEDDING_BACKEND": "azure-openai"}, "AZURE_OPENAI_ENDPOINT", "https://"),
        ({"STORE_BACKEND": "cosmos"}, "COSMOS_CONNECTION__accountEndpoint", "documents.azure.com"),
        ({"EMBED_FIELDS": "name"}, "EMBED_FIELDS", "description"),
        ({"SEARCH_DEFAULT_K": "30", "SEARCH_MAX_K": "10"}, "SEARCH_DEFAULT_K", "SEARCH_MAX_K"),
    ],
)
def test_an_invalid_or_missing_setting_fails_with_one_line_naming_key_and_example(
    env: dict[str, str], key: str, example: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(env)
    message = str(raised.value)
    assert key in message and example in message
    assert "\n" not in message


def test_every_setting_is_a_key_of_the_local_settings_example() -> None:
    values = json.loads((REPO / "local.settings.json.example").read_text())["Values"]
    host_keys = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage", "AzureWebJobsFeatureFlags"}
    assert set(values) - host_keys == {item.name for item in fields(Settings)}


def test_binding_expressions_resolve_from_the_environment_then_the_defaults() -> None:
    assert resolve_app_setting("COSMOS_PRODUCTS_CONTAINER", {}) == "products"
    assert resolve_app_setting("COSMOS_PRODUCTS_CONTAINER", {"COSMOS_PRODUCTS_CONTAINER": "items"}) == "items"
    with pytest.raises(SettingsError, match="NOT_A_SETTING"):
        resolve_app_setting("NOT_A_SETTING", {})


def test_the_readme_settings_table_is_current() -> None:
    # Regenerate with: python -m composition.settings_text
    assert settings_table() in (REPO / "README.md").read_text()
