"""The embedder interface: one required method, batching, truncation and retries in the base.

A backend implements :meth:`Embedder.embed_batch` for one request's worth of texts. Callers use
:meth:`Embedder.embed`, which splits any number of texts into batches that respect the backend's count and token
limits and retries transient failures with exponential backoff, honouring a server's ``Retry-After``.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from transport.retry import RetryPolicy, retrying

log = logging.getLogger(__name__)


class EmbeddingError(Exception):
    """An embedding request failed for good (bad input, bad credentials, unknown deployment)."""


class EmbeddingConfigurationError(EmbeddingError):
    """The endpoint refuses every request (bad credentials, missing role, unknown deployment).

    Not the documents' fault: the pipeline fails the invocation (to be redelivered once fixed) instead of marking
    documents failed.
    """


class TransientEmbeddingError(EmbeddingError):
    """An embedding request failed in a way worth retrying (429, 5xx, timeout, connection reset).

    Args:
        message: what happened.
        retry_after: seconds the server asked us to wait, when it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class PreparedText:
    """A text cut to the model's input limit, and whether anything was cut."""

    text: str
    tokens: int
    truncated: bool


class Embedder(abc.ABC):
    """Turns texts into vectors.

    Attributes:
        model_id: the model identity stamped on every vector it makes (part of the content hash).
        dimensions: the length of every vector.
        max_input_tokens: the longest input the model takes; longer texts are truncated by :meth:`prepare`.
        max_batch_size: the most texts in one :meth:`embed_batch` call.
        max_batch_tokens: the most tokens in one :meth:`embed_batch` call.
    """

    model_id: str
    dimensions: int
    max_input_tokens: int = 8191
    max_batch_size: int = 64
    max_batch_tokens: int = 100_000
    retry_policy: RetryPolicy = RetryPolicy()
    #: :meth:`embed_batch` calls made so far, retries included (what a metered endpoint bills as requests).
    requests_sent: int = 0
    #: Called with the input tokens of every batch that came back embedded (what a metered endpoint bills); the
    #: composition root points it at the usage ledger. Failed attempts are not billed and not reported.
    usage_sink: Callable[[int], None] | None = None

    @abc.abstractmethod
    async def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed one batch (already within the batch limits); one vector per text, in order.

        Raises:
            TransientEmbeddingError: worth retrying.
            EmbeddingError: not worth retrying.
        """

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` costs; backends with a real tokenizer override this."""
        return len(text.split())

    def truncate_to_tokens(self, text: str, max_tokens: int) -> str:
        """``text`` cut to its first ``max_tokens`` tokens; backends with a real tokenizer override this."""
        return " ".join(text.split()[:max_tokens])

    def prepare(self, text: str) -> PreparedText:
        """``text`` within the model's input limit, flagged when it had to be cut."""
        tokens = self.count_tokens(text)
        if tokens <= self.max_input_tokens:
            return PreparedText(text, tokens, False)
        cut = self.truncate_to_tokens(text, self.max_input_tokens)
        return PreparedText(cut, self.max_input_tokens, True)

    def plan_batches(self, prepared: Sequence[PreparedText]) -> Iterator[list[int]]:
        """Indices of ``prepared`` grouped into batches within :attr:`max_batch_size` and :attr:`max_batch_tokens`."""
        batch: list[int] = []
        batch_tokens = 0
        for index, item in enumerate(prepared):
            if batch and (len(batch) >= self.max_batch_size or batch_tokens + item.tokens > self.max_batch_tokens):
                yield batch
                batch, batch_tokens = [], 0
            batch.append(index)
            batch_tokens += item.tokens
        if batch:
            yield batch

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed any number of texts: truncated to the input limit, batched, retried; one vector per text.

        Raises:
            TransientEmbeddingError: a batch still failed after the retry policy's attempts or total wait.
            EmbeddingError: a batch failed in a way retrying cannot fix.
        """
        prepared = [self.prepare(text) for text in texts]
        return await self.embed_prepared(prepared)

    async def embed_prepared(self, prepared: Sequence[PreparedText]) -> list[list[float]]:
        """Like :meth:`embed` for texts already passed through :meth:`prepare`."""
        vectors: list[list[float]] = [[] for _ in prepared]
        for indices in self.plan_batches(prepared):
            tokens = sum(prepared[i].tokens for i in indices)
            batch_vectors = await self._embed_with_retry([prepared[i].text for i in indices], tokens)
            if self.usage_sink is not None:
                self.usage_sink(tokens)
            if len(batch_vectors) != len(indices):
                raise EmbeddingError(f"{self.model_id} returned {len(batch_vectors)} vectors for {len(indices)} texts")
            for i, vector in zip(indices, batch_vectors, strict=True):
                if len(vector) != self.dimensions:
                    raise EmbeddingError(
                        f"{self.model_id} returned {len(vector)} dimensions, expected {self.dimensions}"
                    )
                vectors[i] = vector
        return vectors

    async def embed_counted_batch(self, texts: Sequence[str], tokens: int) -> list[list[float]]:
        """:meth:`embed_batch` for texts whose token count :meth:`prepare` already made (a metered backend paces
        its requests by it); the default ignores the count."""
        return await self.embed_batch(texts)

    async def _embed_with_retry(self, texts: list[str], tokens: int) -> list[list[float]]:
        attempts = retrying(
            self.retry_policy,
            transient=lambda error: isinstance(error, TransientEmbeddingError),
            retry_after=lambda error: getattr(error, "retry_after", None),
            what=f"embedding ({self.model_id})",
        )
        async for attempt in attempts:
            with attempt:
                self.requests_sent += 1
                return await self.embed_counted_batch(texts, tokens)
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    def warm_up(self) -> None:  # noqa: B027 - optional hook
        """Load what the first call would (a model file, a tokenizer) now; blocking."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and sessions."""
