"""The Embedder base class (batching, truncation, retries, result checks), driven through the hashing embedder."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from embedding.base import EmbeddingError, PreparedText, RetryPolicy, TransientEmbeddingError
from embedding.deterministic import DeterministicEmbedder

FAST_RETRIES = RetryPolicy(max_attempts=3, initial_wait=0.01, max_wait=5.0, max_total_wait=10.0)


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


# Batching


async def test_batches_by_count_and_keeps_order() -> None:
    embedder = DeterministicEmbedder(max_batch_size=3)
    texts = [f"product {i}" for i in range(7)]
    vectors = await embedder.embed(texts)
    assert embedder.sent_batches == [texts[0:3], texts[3:6], texts[6:7]]
    assert vectors == [embedder.vector(text) for text in texts]


async def test_batches_by_tokens() -> None:
    embedder = DeterministicEmbedder(max_batch_tokens=5)
    texts = ["a b", "c d", "e f", "g h i j", "k"]  # 2, 2, 2, 4, 1 tokens
    await embedder.embed(texts)
    assert embedder.sent_batches == [["a b", "c d"], ["e f"], ["g h i j", "k"]]


async def test_text_over_the_batch_token_limit_goes_alone() -> None:
    embedder = DeterministicEmbedder(max_batch_tokens=3)
    await embedder.embed(["a", "b c d e f", "g"])
    assert embedder.sent_batches == [["a"], ["b c d e f"], ["g"]]


# Truncation


def test_prepare_flags_only_texts_over_the_input_limit() -> None:
    embedder = DeterministicEmbedder(max_input_tokens=4)
    assert embedder.prepare("one two three four") == PreparedText("one two three four", 4, False)
    assert embedder.prepare("one two three four five") == PreparedText("one two three four", 4, True)


async def test_embed_sends_the_truncated_text() -> None:
    embedder = DeterministicEmbedder(max_input_tokens=2)
    (vector,) = await embedder.embed(["red wool socks"])
    assert embedder.sent_batches == [["red wool"]]
    assert vector == embedder.vector("red wool")


# Retries


async def test_retries_transient_failure_waiting_what_the_server_asked() -> None:
    embedder = DeterministicEmbedder(
        failures=[TransientEmbeddingError("429 Too Many Requests", retry_after=0.2)], retry_policy=FAST_RETRIES
    )
    (vector,) = await embedder.embed(["tent"])
    assert vector == embedder.vector("tent")
    assert embedder.calls == 2
    (wait,) = gaps(embedder.call_times)
    assert 0.2 <= wait < 1.0


async def test_retries_without_retry_after_use_the_short_backoff() -> None:
    embedder = DeterministicEmbedder(
        failures=[TransientEmbeddingError("503"), TransientEmbeddingError("503")], retry_policy=FAST_RETRIES
    )
    await embedder.embed(["tent"])
    assert embedder.calls == 3
    assert all(wait < 0.2 for wait in gaps(embedder.call_times))


async def test_retry_after_is_capped_at_max_wait() -> None:
    policy = RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.05, max_total_wait=10.0)
    embedder = DeterministicEmbedder(failures=[TransientEmbeddingError("429", retry_after=60)], retry_policy=policy)
    await embedder.embed(["tent"])
    (wait,) = gaps(embedder.call_times)
    assert 0.05 <= wait < 1.0


async def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    failures = [TransientEmbeddingError(f"503 #{n}") for n in range(1, 6)]
    embedder = DeterministicEmbedder(failures=failures, retry_policy=FAST_RETRIES)
    with pytest.raises(TransientEmbeddingError, match="503 #3"):
        await embedder.embed(["tent"])
    assert embedder.calls == 3
    assert len(embedder.failures) == 2


async def test_gives_up_rather_than_wait_past_the_total_budget() -> None:
    policy = RetryPolicy(max_attempts=10, initial_wait=0.01, max_wait=5.0, max_total_wait=0.5)
    failures = [TransientEmbeddingError("429", retry_after=0.2) for _ in range(5)]
    embedder = DeterministicEmbedder(failures=failures, retry_policy=policy)
    with pytest.raises(TransientEmbeddingError):
        await embedder.embed(["tent"])
    # Waits of 0.2 s: after two of them a third would end past 0.5 s, so the third attempt is the last.
    assert embedder.calls == 3
    assert embedder.call_times[-1] - embedder.call_times[0] < 0.5


async def test_permanent_error_is_not_retried() -> None:
    embedder = DeterministicEmbedder(failures=[EmbeddingError("401 bad key")], retry_policy=FAST_RETRIES)
    with pytest.raises(EmbeddingError, match="401"):
        await embedder.embed(["tent"])
    assert embedder.calls == 1


async def test_unexpected_error_is_not_retried() -> None:
    embedder = DeterministicEmbedder(failures=[ValueError("bug")], retry_policy=FAST_RETRIES)
    with pytest.raises(ValueError, match="bug"):
        await embedder.embed(["tent"])
    assert embedder.calls == 1


async def test_a_failing_batch_stops_the_later_ones() -> None:
    embedder = DeterministicEmbedder(max_batch_size=1, failures=[EmbeddingError("400")], retry_policy=FAST_RETRIES)
    with pytest.raises(EmbeddingError):
        await embedder.embed(["a", "b", "c"])
    assert embedder.sent_batches == [["a"]]


# Checking what the backend returned


class _DropsLastVector(DeterministicEmbedder):
    async def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        return (await super().embed_batch(texts))[:-1]


class _OneDimensionTooMany(DeterministicEmbedder):
    async def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        return [vector + [0.0] for vector in await super().embed_batch(texts)]


async def test_wrong_vector_count_is_an_error_and_not_retried() -> None:
    embedder = _DropsLastVector(model_id="short", retry_policy=FAST_RETRIES)
    with pytest.raises(EmbeddingError, match="short returned 1 vectors for 2 texts"):
        await embedder.embed(["a", "b"])
    assert embedder.calls == 1


async def test_wrong_dimensions_is_an_error() -> None:
    embedder = _OneDimensionTooMany(dimensions=8, model_id="wide", retry_policy=FAST_RETRIES)
    with pytest.raises(EmbeddingError, match="wide returned 9 dimensions, expected 8"):
        await embedder.embed(["a"])
    assert embedder.calls == 1
