"""The local MiniLM ONNX embedder: meaning-preserving unit vectors, exact truncation, a responsive event loop."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from embedding.local_onnx import ModelFileError, OnnxEmbedder, file_sha256

pytestmark = pytest.mark.model

SADDLE = (
    "A padded road bike saddle with a pressure-relief channel and gel inserts, shaped to stay comfortable "
    "through long days in the saddle."
)
HELMET = (
    "A lightweight cycling helmet with a shell that absorbs impacts, twenty vents to keep your head cool, and "
    "a dial that adjusts the fit."
)
STOVE = "A compact backpacking stove that screws onto a gas canister and boils a litre of water in four minutes."
LONG_TEXT = " ".join(["the waterproof tent kept everyone dry during the storm"] * 100)  # 1000 words


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    embedder = OnnxEmbedder()
    embedder.warm_up()
    return embedder


@pytest.fixture
def model_copy(tmp_path: Path, embedder: OnnxEmbedder) -> Path:
    folder = tmp_path / "my-minilm"
    folder.mkdir()
    (folder / "model.onnx").symlink_to(embedder.model_path)
    shutil.copy(embedder.tokenizer_path, folder / "tokenizer.json")
    return folder


def as_matrix(vectors: list[list[float]]) -> np.ndarray:
    return np.asarray(vectors, dtype=np.float64)


def test_default_model_identity_and_limits() -> None:
    embedder = OnnxEmbedder()
    assert embedder.model_id == "all-MiniLM-L6-v2-onnx-int8"
    assert embedder.dimensions == 384
    assert embedder.max_input_tokens == 256
    assert embedder.max_batch_tokens == embedder.max_batch_size * 256


async def test_vectors_are_unit_length_with_the_declared_dimensions(embedder: OnnxEmbedder) -> None:
    vectors = as_matrix(await embedder.embed([SADDLE, HELMET, "", "ok"]))
    assert vectors.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


async def test_query_is_closest_to_the_product_it_means(embedder: OnnxEmbedder) -> None:
    query, saddle, helmet, stove = as_matrix(
        await embedder.embed(["a comfortable saddle for long rides", SADDLE, HELMET, STOVE])
    )
    assert query @ saddle > query @ helmet + 0.1
    assert query @ saddle > query @ stove + 0.1
    boil, *_ = as_matrix(await embedder.embed(["boil water at camp"]))
    assert boil @ stove > max(boil @ saddle, boil @ helmet) + 0.1


async def test_identical_texts_get_identical_vectors(embedder: OnnxEmbedder) -> None:
    first, second = await embedder.embed([SADDLE, SADDLE])
    (again,) = await embedder.embed([SADDLE])
    assert first == second == again


async def test_batching_and_padding_do_not_change_vectors(embedder: OnnxEmbedder) -> None:
    texts = [SADDLE, "helmet", HELMET, STOVE, "a", LONG_TEXT, "camp stove"] * 3
    together = as_matrix(await embedder.embed_batch(texts))
    one_by_one = as_matrix([(await embedder.embed_batch([text]))[0] for text in texts])
    assert np.min(np.sum(together * one_by_one, axis=1)) > 0.9999


def test_count_tokens_includes_cls_and_sep(embedder: OnnxEmbedder) -> None:
    assert embedder.count_tokens("") == 2
    assert embedder.count_tokens("tent") == 3
    assert embedder.count_tokens("unbelievably") == 2 + 5  # un ##bel ##ie ##va ##bly


def test_prepare_flags_truncation_exactly_when_the_model_would_cut(embedder: OnnxEmbedder) -> None:
    fits = " ".join(["tent"] * 254)  # 254 + [CLS] + [SEP] = 256
    assert embedder.prepare(fits).truncated is False
    assert embedder.prepare(fits + " tent").truncated is True
    assert embedder.prepare(SADDLE).truncated is False
    long = embedder.prepare(LONG_TEXT)
    assert long.truncated is True
    assert long.tokens == 256


def test_truncated_text_is_a_prefix_that_fits(embedder: OnnxEmbedder) -> None:
    for text in (LONG_TEXT, "Grüße aus Köln, naïve café! 東京 " * 200, "unbelievably " * 300):
        cut = embedder.truncate_to_tokens(text, 256)
        assert text.startswith(cut)
        assert embedder.count_tokens(cut) == 256  # the longest prefix that fits, not a conservative one
    assert embedder.truncate_to_tokens(SADDLE, 256) == SADDLE
    assert embedder.truncate_to_tokens(SADDLE, 2) == ""


async def test_truncated_text_embeds_like_the_model_cuts_the_full_text(embedder: OnnxEmbedder) -> None:
    (prepared,) = await embedder.embed([LONG_TEXT])  # prepare() cuts, then the model sees <= 256 tokens
    (raw,) = await embedder.embed_batch([LONG_TEXT])  # the tokenizer cuts at 256
    assert float(np.dot(prepared, raw)) > 0.9999


async def test_inference_does_not_block_the_event_loop(embedder: OnnxEmbedder) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await embedder.embed_batch([LONG_TEXT] * 8)
    finally:
        ticker.cancel()
    assert ticks >= 5


async def test_empty_batch_makes_no_vectors(embedder: OnnxEmbedder) -> None:
    assert await embedder.embed_batch([]) == []


async def test_close_then_reuse_reloads() -> None:
    embedder = OnnxEmbedder()
    (before,) = await embedder.embed([STOVE])
    await embedder.close()
    (after,) = await embedder.embed([STOVE])
    assert before == after
    await embedder.close()


async def test_custom_model_dir_reads_dimensions_and_names_the_model(model_copy: Path, embedder: OnnxEmbedder) -> None:
    (model_copy / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
    custom = OnnxEmbedder(model_dir=model_copy)
    assert (custom.model_id, custom.dimensions, custom.max_input_tokens) == ("my-minilm", 384, 128)
    assert OnnxEmbedder(model_dir=model_copy, model_id="minilm-copy").model_id == "minilm-copy"
    (mine,) = await custom.embed([STOVE])
    (packaged,) = await embedder.embed([STOVE])
    assert float(np.dot(mine, packaged)) > 0.9999
    await custom.close()


@pytest.mark.parametrize("missing", ["model.onnx", "tokenizer.json"])
def test_custom_model_dir_missing_file_is_named(model_copy: Path, missing: str) -> None:
    (model_copy / missing).unlink()
    with pytest.raises(ModelFileError, match=missing):
        OnnxEmbedder(model_dir=model_copy)


def test_model_file_with_the_wrong_sha256_is_refused(model_copy: Path, embedder: OnnxEmbedder) -> None:
    with pytest.raises(ModelFileError, match="sha256"):
        OnnxEmbedder(model_dir=model_copy, sha256="0" * 64)
    assert OnnxEmbedder(model_dir=model_copy, sha256=file_sha256(embedder.model_path)).dimensions == 384


def test_packaged_model_with_the_wrong_sha256_is_refused_at_load() -> None:
    embedder = OnnxEmbedder(sha256="0" * 64)  # cheap: nothing is read until first use
    with pytest.raises(ModelFileError, match="expected 0000"):
        embedder.warm_up()
