"""A model migration end to end on the embedded store: the deterministic model at 64 dimensions moves to 32.

Search must rank one slot's vectors only at every step (checked against a ranking computed by hand from the stored
vectors), new writes must reach both slots while the second fills, a switch must be refused while vectors are
missing, and rollback and finish must leave the catalog whole.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from catalog.embedding_sync import embed_into_slots
from catalog.migration import FOLLOW_SECONDS, MigrationError, SlotModel
from catalog.model import SLOT_A, SLOT_B, VectorSlot
from composition.services import Services, build_services
from composition.settings import load_settings
from devhost.cli import main
from embedding.deterministic import DeterministicEmbedder

REPO = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((REPO / "devhost" / "sample_products.json").read_text())
QUESTIONS = ["a tent for two on a long hike", "keep coffee hot", "waterproof jacket for rain", "stove for camping"]
TO_32 = {"EMBEDDING_DIMENSIONS": "32"}


def env_for(tmp_path: Path) -> dict[str, str]:
    return {"STORE_BACKEND": "local", "EMBEDDING_BACKEND": "deterministic", "LOCAL_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    built = build_services(load_settings(env_for(tmp_path)))
    products = await built.products()
    for product in SAMPLE:
        await products.upsert(dict(product))
    await (await built.reconciler()).reconcile()
    try:
        yield built
    finally:
        await built.close()


def target(services: Services) -> SlotModel:
    settings = {**services.configured_model().settings, **TO_32}
    return SlotModel(settings, "deterministic-bow-v1", 32, tuple(services.settings.EMBED_FIELDS))


async def by_hand(services: Services, slot: VectorSlot, dimensions: int, question: str, k: int) -> list[float]:
    """The top-``k`` cosine scores of ``question`` against the vectors stored in ``slot`` alone."""
    [query] = await DeterministicEmbedder(dimensions=dimensions).embed([question])
    q = np.asarray(query) / np.linalg.norm(query)
    scores = []
    for document in await (await services.products()).query():
        vector = document.get(slot.vector_field)
        if isinstance(vector, list) and len(vector) == dimensions:
            v = np.asarray(vector)
            scores.append(float(q @ (v / np.linalg.norm(v))))
    return sorted(scores, reverse=True)[:k]


async def assert_ranks_one_slot(services: Services, slot: VectorSlot, dimensions: int) -> None:
    search = await services.search()
    assert search.slot == slot and search.embedder.dimensions == dimensions
    for question in QUESTIONS:
        result = await search.search(question, 5)
        expected = await by_hand(services, slot, dimensions, question, 5)
        assert [hit.score for hit in result.hits] == pytest.approx(expected, abs=1e-5), question
        # Nothing of the other slot reaches a caller.
        assert all("embedding" not in hit.document and "embedding_b" not in hit.document for hit in result.hits)


async def reconcile_slot(services: Services, slot: VectorSlot, max_products: int | None = None) -> Any:
    [reconciler] = [r for r in await services.reconcilers() if r.recipe.slot == slot]
    if max_products is not None:
        reconciler.max_products = max_products
    return await reconciler.reconcile()


async def test_a_migration_fills_the_second_slot_switches_rolls_back_and_finishes(services: Services) -> None:
    migrations = await services.migrations()
    await assert_ranks_one_slot(services, SLOT_A, 64)

    state = await migrations.start(target(services))
    assert (state.phase, state.active, state.target) == ("filling", "a", "b")
    plan = await services.slots(refresh=True)
    assert [(slot.name, model.dimensions) for slot, model in plan.maintained()] == [("a", 64), ("b", 32)]

    # Half filled: search still ranks slot a alone, and a switch is refused because products would drop out.
    partial = await reconcile_slot(services, SLOT_B, max_products=len(SAMPLE) // 2)
    assert partial.embedded == len(SAMPLE) // 2
    await assert_ranks_one_slot(services, SLOT_A, 64)
    with pytest.raises(MigrationError, match=f"{len(SAMPLE) - len(SAMPLE) // 2} of {len(SAMPLE)} products"):
        await migrations.switch()

    # A product written while the slot fills gets both vectors: the change feed runs both pipelines.
    new = {"id": "nw-new", "name": "Ultralight tent", "category_name": "Tents", "description": "A tent for two."}
    written = await (await services.products()).upsert(new)
    reports = await embed_into_slots(await services.embedding_pipelines(), [written])  # what the trigger runs
    assert [(r.embedded, r.conflicts) for r in reports] == [(1, 0), (1, 0)]  # in one invocation, no echo needed
    stored = await (await services.products()).read("nw-new", "nw-new") or {}
    assert len(stored["embedding"]) == 64 and len(stored["embedding_b"]) == 32

    rest = await reconcile_slot(services, SLOT_B, max_products=1000)
    assert rest.complete and rest.failed == 0
    state = await migrations.switch()
    assert (state.phase, state.active) == ("switched", "b")
    await services.slots(refresh=True)
    await assert_ranks_one_slot(services, SLOT_B, 32)
    status = await (await services.embedding_status()).summary()
    assert (status.slot, status.dimensions, status.by_status["embedded"]) == ("b", 32, len(SAMPLE) + 1)

    state, cleared = await migrations.rollback()
    assert (state.phase, state.active, cleared) == ("filling", "a", 0)
    await services.slots(refresh=True)
    await assert_ranks_one_slot(services, SLOT_A, 64)

    await migrations.switch()
    state, cleared = await migrations.finish()
    assert (state.phase, state.active, set(state.slots)) == ("idle", "b", {"b"})
    assert cleared == len(SAMPLE) + 1
    documents = await (await services.products()).query()
    assert not any("embedding" in d or "embedding_info" in d for d in documents)
    await services.slots(refresh=True)
    await assert_ranks_one_slot(services, SLOT_B, 32)
    # Nothing is pending: the pipeline's echo of the clearing writes is skipped, the reconciler finds all current.
    again = await reconcile_slot(services, SLOT_B)
    assert (again.current, again.embed_requests) == (len(SAMPLE) + 1, 0)


async def test_abandoning_a_migration_before_the_switch_clears_the_second_slot(services: Services) -> None:
    migrations = await services.migrations()
    await migrations.start(target(services))
    await services.slots(refresh=True)
    await reconcile_slot(services, SLOT_B)

    state, cleared = await migrations.rollback()

    assert (state.phase, state.active, cleared) == ("idle", "a", len(SAMPLE))
    documents = await (await services.products()).query()
    assert all("embedding_b" not in d and len(d["embedding"]) == 64 for d in documents)
    with pytest.raises(MigrationError, match="no migration"):
        await migrations.rollback()


async def test_operations_out_of_turn_are_refused_with_what_to_do(services: Services) -> None:
    migrations = await services.migrations()
    with pytest.raises(MigrationError, match="nothing to switch"):
        await migrations.switch()
    with pytest.raises(MigrationError, match="only a switched migration can finish"):
        await migrations.finish()
    with pytest.raises(MigrationError, match="already uses"):
        await migrations.start(services.configured_model())
    await migrations.start(target(services))
    with pytest.raises(MigrationError, match="already filling"):
        await migrations.start(target(services))


async def test_another_instance_follows_a_switch_on_its_next_read(services: Services, tmp_path: Path) -> None:
    other = build_services(load_settings(env_for(tmp_path)))
    try:
        assert (await other.search()).slot == SLOT_A
        migrations = await services.migrations()
        await migrations.start(target(services))
        await services.slots(refresh=True)
        await reconcile_slot(services, SLOT_B)
        await migrations.switch()

        # Within FOLLOW_SECONDS the other instance keeps its plan (whole rankings of one slot), then follows.
        assert FOLLOW_SECONDS > 0
        other._slot_read_at = float("-inf")  # its follow period has passed
        assert (await other.search()).slot == SLOT_B
        await assert_ranks_one_slot(other, SLOT_B, 32)
    finally:
        await other.close()


async def test_a_model_changed_in_place_is_not_ranked_beside_the_old_one(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    first = build_services(load_settings(env))
    products = await first.products()
    for product in SAMPLE[:10]:
        await products.upsert(dict(product))
    await (await first.reconciler()).reconcile()
    await first.close()

    # Same size, another model: its vectors would be comparable numbers from another space.
    second = build_services(load_settings(env))
    second.embedder = DeterministicEmbedder(dimensions=64, model_id="deterministic-bow-v2")
    try:
        search = await second.search()
        assert (await search.search("tent", 5)).hits == []  # reported as pending, not ranked
        summary = await (await second.embedding_status()).summary()
        assert summary.by_status["pending"] == 10
        await (await second.reconciler()).reconcile()
        assert len((await search.search("tent", 5)).hits) == 5
    finally:
        await second.close()


def test_the_cli_plans_and_runs_a_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in env_for(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    assert main(["load", "--direct", str(REPO / "devhost" / "sample_products.json")]) == 0
    assert main(["reconcile"]) == 0
    capsys.readouterr()

    assert main(["migrate", "plan", "--to", "EMBEDDING_DIMENSIONS=32"]) == 0
    plan = capsys.readouterr().out
    assert "to deterministic-bow-v1 (32 dims)" in plan and f"{len(SAMPLE)} live products" in plan
    assert "tokens in 1 requests" in plan and "estimated time" in plan

    assert main(["migrate", "start", "--to", "EMBEDDING_DIMENSIONS=32"]) == 0
    assert f"slot b: {len(SAMPLE)} embedded" in capsys.readouterr().out
    assert main(["migrate", "evaluate"]) == 0
    table = capsys.readouterr().out
    assert "sample_shop    a" in table and "sample_shop    b" in table
    assert main(["migrate", "switch"]) == 0
    assert main(["migrate", "status"]) == 0
    status = capsys.readouterr().out
    assert "search uses slot b" in status and f"{len(SAMPLE)}/{len(SAMPLE)} current" in status
    assert main(["migrate", "finish"]) == 0
    assert "keep EMBEDDING_DIMENSIONS as it is (the local store was made for 64)" in capsys.readouterr().out
    # Hosts and commands started later with the same settings use the recorded model.
    assert main(["migrate", "status"]) == 0
    assert "phase idle: search uses slot b (deterministic-bow-v1, 32 dims)" in capsys.readouterr().out


def test_a_bad_target_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in env_for(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)

    assert main(["migrate", "plan", "--to", "COSMOS_KEY=abc"]) == 2
    assert "only model settings can change" in capsys.readouterr().err
    assert main(["migrate", "plan", "--to", "EMBEDDING_DIMENSIONS=lots"]) == 2
    error = capsys.readouterr().err
    assert "EMBEDDING_DIMENSIONS" in error and "Traceback" not in error
    assert main(["migrate", "switch"]) == 1
    assert "nothing to switch" in capsys.readouterr().err
