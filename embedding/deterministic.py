"""A fast, dependency-free embedder for tests: hashed bag of words, with call counts and injectable failures."""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import time
from collections.abc import Iterable, Sequence

from embedding.base import Embedder, EmbeddingError, RetryPolicy

_WORD = re.compile(r"\w+")


class DeterministicEmbedder(Embedder):
    """Embeds texts as L2-normalised hashed bags of words, the same on every run and machine.

    Each lowercased word adds +1 or -1 to one of ``dimensions`` buckets, both chosen by a blake2b hash of the word
    (not Python's per-process salted ``hash()``), so texts sharing words point the same way and identical texts get
    identical vectors. A text without words (``""``, punctuation only) becomes the unit vector on bucket 0, because a
    zero vector has no direction to compare; such texts are therefore all identical to each other. Words whose
    signed counts cancel out fall back the same way.

    Tokens are whitespace-separated words (the base :meth:`Embedder.count_tokens`).

    Args:
        dimensions: vector length.
        model_id: the identity stamped on the vectors.
        failures: exceptions the next :meth:`embed_batch` calls raise, in order, one per call, before succeeding.
        delay: seconds each :meth:`embed_batch` call sleeps first, to simulate a slow model.
        max_input_tokens: words per text before :meth:`Embedder.prepare` truncates.
        max_batch_size: texts per :meth:`embed_batch` call.
        max_batch_tokens: words per :meth:`embed_batch` call.
        retry_policy: how :meth:`Embedder.embed` retries; defaults to the base policy.

    Attributes:
        calls: :meth:`embed_batch` calls so far, failed ones included.
        texts_embedded: texts embedded by successful calls so far.
        sent_batches: the texts of every call, in order, failed ones included.
        call_times: ``time.monotonic()`` at the start of every call, failed ones included.
        failures: the injected exceptions not raised yet.
        refuse_texts_containing: a call whose texts include this string fails for good (``EmbeddingError``), as a
            real endpoint refuses an input it will never accept.
    """

    def __init__(
        self,
        dimensions: int = 64,
        model_id: str = "deterministic-bow-v1",
        *,
        failures: Iterable[Exception] | None = None,
        delay: float = 0.0,
        max_input_tokens: int = 8191,
        max_batch_size: int = 64,
        max_batch_tokens: int = 100_000,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        if dimensions < 1:
            raise ValueError(f"dimensions must be at least 1, got {dimensions}")
        self.dimensions = dimensions
        self.model_id = model_id
        self.failures: list[Exception] = list(failures or [])
        self.delay = delay
        self.max_input_tokens = max_input_tokens
        self.max_batch_size = max_batch_size
        self.max_batch_tokens = max_batch_tokens
        if retry_policy is not None:
            self.retry_policy = retry_policy
        self.calls = 0
        self.texts_embedded = 0
        self.sent_batches: list[list[str]] = []
        self.call_times: list[float] = []
        self.refuse_texts_containing: str | None = None

    async def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed one batch, after the configured delay, unless an injected failure is due.

        Raises:
            Exception: the next injected failure, if any is left.
        """
        self.calls += 1
        self.sent_batches.append(list(texts))
        self.call_times.append(time.monotonic())
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        refused = self.refuse_texts_containing
        if refused and any(refused in text for text in texts):
            raise EmbeddingError(f"input refused: it contains {refused!r}")
        vectors = [self.vector(text) for text in texts]
        self.texts_embedded += len(texts)
        return vectors

    def vector(self, text: str) -> list[float]:
        """The unit vector for ``text`` (synchronously, without counting a call)."""
        buckets = [0.0] * self.dimensions
        for word in _WORD.findall(text.lower()):
            digest = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "big")
            buckets[digest % self.dimensions] += 1.0 if digest >> 63 else -1.0
        norm = math.sqrt(sum(value * value for value in buckets))
        if norm == 0.0:
            return [1.0] + [0.0] * (self.dimensions - 1)
        return [value / norm for value in buckets]
