"""Building the ``openai`` async clients from settings, once: keyless Entra ID by default for Azure OpenAI, the
SDK's own retries off (``transport.retry`` is the one retry layer)."""

from __future__ import annotations

from typing import Any

import openai

from composition.settings import Settings

#: The Entra ID scope of Azure OpenAI (Cognitive Services) tokens.
AZURE_OPENAI_SCOPE = "https://cognitiveservices.azure.com/.default"


def openai_client(settings: Settings) -> openai.AsyncOpenAI:
    """The client of the OpenAI-compatible endpoint at ``OPENAI_BASE_URL``, without SDK retries."""
    # Local servers (Ollama, vLLM) take any key; the SDK insists on one.
    return openai.AsyncOpenAI(
        base_url=settings.OPENAI_BASE_URL,
        api_key=settings.OPENAI_API_KEY or "unused",
        timeout=settings.OPENAI_TIMEOUT_SECONDS,
        max_retries=0,
    )


def azure_openai_client(settings: Settings, *, credential: Any = None) -> tuple[openai.AsyncAzureOpenAI, Any]:
    """The Azure OpenAI client the settings describe, without SDK retries, and the credential it owns.

    Keyless by default: Entra ID tokens for :data:`AZURE_OPENAI_SCOPE` from ``credential``, or from an
    ``azure.identity.aio.DefaultAzureCredential`` (the user-assigned identity ``AZURE_CLIENT_ID`` when set) created
    here. ``AZURE_OPENAI_API_KEY``, when set, is sent as ``api-key`` instead and no credential is used.

    Args:
        settings: ``AZURE_OPENAI_ENDPOINT``, ``AZURE_OPENAI_API_VERSION``, ``AZURE_OPENAI_API_KEY``,
            ``AZURE_CLIENT_ID`` and ``OPENAI_TIMEOUT_SECONDS`` are read.
        credential: an async token credential (``async get_token(*scopes)``) to use instead of the default one.

    Returns:
        The client, and the credential its token provider uses (``None`` with a key) for the caller to close.
    """
    common: dict[str, Any] = {
        "azure_endpoint": settings.AZURE_OPENAI_ENDPOINT,
        "api_version": settings.AZURE_OPENAI_API_VERSION,
        "timeout": settings.OPENAI_TIMEOUT_SECONDS,
        "max_retries": 0,
    }
    if settings.AZURE_OPENAI_API_KEY:
        return openai.AsyncAzureOpenAI(api_key=settings.AZURE_OPENAI_API_KEY, **common), None
    from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider

    if credential is None:
        identity = {"managed_identity_client_id": settings.AZURE_CLIENT_ID} if settings.AZURE_CLIENT_ID else {}
        credential = DefaultAzureCredential(**identity)
    # The aio provider is a coroutine function; the async client awaits what its provider returns on every request
    # (the provider caches the token and refreshes it before it expires).
    provider = get_bearer_token_provider(credential, AZURE_OPENAI_SCOPE)
    return openai.AsyncAzureOpenAI(azure_ad_token_provider=provider, **common), credential
