"""The hashing test embedder: stable, similarity-preserving vectors, call counts and injected failures."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from embedding.base import EmbeddingError, TransientEmbeddingError
from embedding.deterministic import DeterministicEmbedder

REPO_ROOT = Path(__file__).resolve().parents[2]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_identity_and_shape() -> None:
    embedder = DeterministicEmbedder()
    assert (embedder.model_id, embedder.dimensions) == ("deterministic-bow-v1", 64)
    (vector,) = await embedder.embed(["trail running shoes"])
    assert len(vector) == 64
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-9)


async def test_custom_dimensions_and_model_id() -> None:
    embedder = DeterministicEmbedder(dimensions=16, model_id="bow-16")
    (vector,) = await embedder.embed(["camp stove"])
    assert len(vector) == 16
    assert embedder.model_id == "bow-16"


def test_rejects_zero_dimensions() -> None:
    with pytest.raises(ValueError, match="dimensions"):
        DeterministicEmbedder(dimensions=0)


async def test_identical_texts_get_identical_vectors_and_case_is_ignored() -> None:
    embedder = DeterministicEmbedder()
    first, second, shouted = await embedder.embed(["Ultralight tent", "Ultralight tent", "ULTRALIGHT TENT"])
    assert first == second == shouted


async def test_texts_sharing_words_are_closer_than_unrelated_texts() -> None:
    embedder = DeterministicEmbedder(dimensions=256)
    query, related, unrelated = await embedder.embed(
        ["waterproof hiking boots", "leather hiking boots for rocky trails", "stainless chef knife"]
    )
    assert cosine(query, related) > 0.4
    assert cosine(query, related) > cosine(query, unrelated) + 0.3


@pytest.mark.parametrize("text", ["", "   ", "?!"])
async def test_text_without_words_is_the_unit_vector_on_bucket_zero(text: str) -> None:
    embedder = DeterministicEmbedder(dimensions=8)
    (vector,) = await embedder.embed([text])
    assert vector == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_vectors_do_not_depend_on_the_process_hash_seed() -> None:
    script = (
        "import json; from embedding.deterministic import DeterministicEmbedder as E; "
        "print(json.dumps(E().vector('headlamp with red light')))"
    )
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO_ROOT)}
        run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        outputs.append(json.loads(run.stdout))
    assert outputs[0] == outputs[1] == DeterministicEmbedder().vector("headlamp with red light")


async def test_counts_calls_and_texts() -> None:
    embedder = DeterministicEmbedder()
    await embedder.embed(["a", "b", "c"])
    await embedder.embed_batch(["d"])
    assert (embedder.calls, embedder.texts_embedded) == (2, 4)
    assert embedder.sent_batches == [["a", "b", "c"], ["d"]]


async def test_embedding_nothing_makes_no_call() -> None:
    embedder = DeterministicEmbedder()
    assert await embedder.embed([]) == []
    assert embedder.calls == 0


async def test_injected_failures_are_raised_in_order_then_calls_succeed() -> None:
    first, second = EmbeddingError("bad key"), ValueError("boom")
    embedder = DeterministicEmbedder(failures=[first, second])
    with pytest.raises(EmbeddingError) as raised:
        await embedder.embed_batch(["x"])
    assert raised.value is first
    with pytest.raises(ValueError, match="boom"):
        await embedder.embed_batch(["x"])
    assert await embedder.embed_batch(["x"]) == [embedder.vector("x")]
    assert (embedder.calls, embedder.texts_embedded, embedder.failures) == (3, 1, [])


async def test_injected_failures_list_is_not_mutated() -> None:
    failures: list[Exception] = [TransientEmbeddingError("429")]
    embedder = DeterministicEmbedder(failures=failures)
    with pytest.raises(TransientEmbeddingError):
        await embedder.embed_batch(["x"])
    assert len(failures) == 1


async def test_delay_makes_each_call_slow_without_blocking_the_loop() -> None:
    embedder = DeterministicEmbedder(delay=0.1)
    started = time.monotonic()
    results = await asyncio.gather(embedder.embed_batch(["a"]), embedder.embed_batch(["b"]))
    elapsed = time.monotonic() - started
    assert 0.1 <= elapsed < 0.2, "two concurrent calls should overlap their delays"
    assert results == [[embedder.vector("a")], [embedder.vector("b")]]
