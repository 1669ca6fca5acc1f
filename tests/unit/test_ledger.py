"""The cost and savings ledger: counts survive a restart, several writers lose nothing, a cache hit records what it
saved, and prices only ever give estimates (request charges are "n/a" where the store has none)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from composition.services import Services, build_services
from composition.settings import load_settings
from ledger import Meter, Prices, Role, UsageLedger
from ledger.report import NO_REQUEST_UNITS_NOTE, usage_report, usage_summary
from ledger.usage import MAX_PENDING_KEYS, Tally, document_id
from store.base import ContainerSpec, DocumentContainer, StoreUnavailableError
from store.sqlite import SqliteDocumentStore
from tests.conftest import FeedDriver
from tests.unit.test_chat import ask, stocked


async def test_the_totals_survive_a_restart_of_the_services(settings_env: dict[str, str]) -> None:
    first = build_services(load_settings(settings_env))
    texts = ["boil water at camp", "a warm sleeping bag", "a lamp"]
    tokens = sum(first.embedder.count_tokens(text) for text in texts)
    await first.embedder.embed(texts[:2])  # one request
    model = first.embedder.model_id
    await first.close()  # flushes

    second = build_services(load_settings(settings_env))  # a new process over the same SQLite file
    try:
        await second.embedder.embed(texts[2:])
        summary = await usage_summary(second.ledger, await second.usage_book(), days=1, request_charges=False)
    finally:
        await second.close()
    [row] = [row for row in summary["models"] if row["model"] == model]
    assert (row["requests"], row["tokens"]) == (2, tokens)
    assert row["role"] == "embedding" and row["metered"] is False and row["estimated_cost"] == 0
    assert summary["request_charge"] is None and NO_REQUEST_UNITS_NOTE in summary["notes"]


async def test_writers_in_several_processes_never_lose_an_increment(tmp_path: Path) -> None:
    path = tmp_path / "book.sqlite3"
    stores = [SqliteDocumentStore(path) for _ in range(3)]  # three instances, one file
    try:
        books = [await store.container(ContainerSpec("leases", "/id")) for store in stores]
        ledgers = [UsageLedger(day=lambda: "2026-11-30") for _ in stores]

        async def work(ledger: UsageLedger, book: DocumentContainer) -> None:
            for _ in range(20):
                ledger.record_embedding("m", 5)
                ledger.record_chat("c", 3, 4)
                await ledger.flush(book)  # the first ones race to create the day documents

        await asyncio.gather(*(work(ledger, book) for ledger, book in zip(ledgers, books, strict=True)))
        embedding = await books[0].read(document_id("2026-11-30", "m"), document_id("2026-11-30", "m"))
        chat = await books[0].read(document_id("2026-11-30", "c"), document_id("2026-11-30", "c"))
    finally:
        for store in stores:
            await store.close()
    assert embedding is not None and (embedding["requests"], embedding["tokens"]) == (60, 300)
    assert chat is not None and (chat["prompt_tokens"], chat["completion_tokens"]) == (180, 240)


async def test_counts_that_could_not_be_written_stay_pending_and_memory_stays_bounded(tmp_path: Path) -> None:
    days = iter(f"2026-{month:02d}-{day:02d}" for month in range(1, 13) for day in range(1, 29))
    current = ["2026-11-30"]
    ledger = UsageLedger(day=lambda: current[0])
    store = SqliteDocumentStore(tmp_path / "book.sqlite3")
    book = await store.container(ContainerSpec("leases", "/id"))

    async def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailableError("the store is down")

    book.patch = book.create = down  # type: ignore[method-assign]
    ledger.record_embedding("m", 5)
    with pytest.raises(StoreUnavailableError):
        await ledger.flush(book)
    await store.close()
    assert ledger.pending()[("2026-11-30", "m")].tokens == 5
    for _ in range(MAX_PENDING_KEYS + 10):  # the book stays down for months
        current[0] = next(days)
        ledger.record_embedding("m", 1)
    assert len(ledger.pending()) == MAX_PENDING_KEYS


async def test_a_cache_hit_records_the_tokens_and_time_of_the_answer_it_replaced(
    services: Services, feed: FeedDriver
) -> None:
    chat = await stocked(services, feed)
    model = services.chat_model.model_id
    first = await chat.ask(ask("coffee mug that stays hot"))
    again = await chat.ask(ask("coffee mug that stays hot"))
    assert not first.cached and again.cached
    assert first.usage.completion_tokens > 0 and again.usage.completion_tokens == 0
    assert again.saved is not None and again.saved.completion_tokens == first.usage.completion_tokens
    assert again.saved.ms > 0
    assert again.to_json()["saved"]["completion_tokens"] == first.usage.completion_tokens
    tally = services.ledger.pending()[(services.ledger._day(), model)]
    assert tally.requests == 1  # the answer that was written; the hit cost no completion
    assert tally.cache_hits == 1
    assert tally.saved_completion_tokens == first.usage.completion_tokens
    assert tally.saved_ms == pytest.approx(again.saved.ms)


def test_prices_make_estimates_for_metered_models_only_and_request_charges_only_where_they_exist() -> None:
    prices = Prices(
        embedding_per_1m_tokens=0.02, chat_input_per_1m_tokens=2.5, chat_output_per_1m_tokens=10,
        per_1m_request_units=0.25,
    )  # fmt: skip
    documents = [
        {"day": "2026-11-30", "model": "emb", "role": "embedding", "metered": True, "requests": 1,
         "tokens": 1_000_000},
        {"day": "2026-11-29", "model": "gpt", "role": "chat", "metered": True, "requests": 2,
         "prompt_tokens": 1_000_000, "completion_tokens": 100_000, "cache_hits": 1, "saved_prompt_tokens": 400_000},
        {"day": "2026-11-30", "model": "cosmos-db", "role": "store", "metered": True, "requests": 9,
         "request_charge": 2_000_000.0},
        {"day": "2026-11-30", "model": "answer-writer-v2", "role": "chat", "metered": False, "requests": 3,
         "completion_tokens": 900},
    ]  # fmt: skip
    report = usage_report(documents, prices, days=7, today="2026-11-30", request_charges=True)
    by_model = {row["model"]: row for row in report["models"]}
    assert by_model["emb"]["estimated_cost"] == pytest.approx(0.02)
    assert by_model["gpt"]["estimated_cost"] == pytest.approx(2.5 + 1.0)
    assert by_model["gpt"]["estimated_saving"] == pytest.approx(1.0)
    assert by_model["cosmos-db"]["estimated_cost"] == pytest.approx(0.5)
    assert by_model["answer-writer-v2"]["estimated_cost"] == 0
    assert "request_charge" not in by_model["gpt"]
    assert report["request_charge"] == 2_000_000.0 and report["prices"]["estimate"] is True
    assert report["from_day"] == "2026-11-24" and [day["day"] for day in report["days"]] == ["2026-11-30", "2026-11-29"]
    local = usage_report(documents[:2], prices, days=7, today="2026-11-30", request_charges=False)
    assert local["request_charge"] is None and any(note.startswith("n/a") for note in local["notes"])


def test_a_meter_decides_the_role_and_whether_anyone_bills_it() -> None:
    ledger = UsageLedger((Meter("local", Role.EMBEDDING, False),), prices=Prices(chat_input_per_1m_tokens=1e6))
    assert ledger.chat_cost("local", 10, 0) == 0
    assert ledger.chat_cost("openai:gpt-4o", 10, 0) == 10  # a model nobody declared is assumed billed
    tally = Tally()
    tally.add(tokens=3)
    assert tally.nonzero() == {"tokens": 3}
