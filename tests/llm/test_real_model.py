"""The chat with the real local model, through the HTTP API of ``python -m devhost run`` (a subprocess).

The llama.cpp server runs behind a prompt recorder, so each answer is checked against exactly the products the model
was shown: its ``[n]`` point at them, it names no other catalog product, the API's citations are among them, and the
same question from the same caller is then served from the semantic cache without asking the model again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llm.answer_audit import audit_answer
from llm.options import LlmOptions
from llm.prompt_recorder import PromptRecorder
from llm.provision import find_prepared
from tests.e2e.hosting import RunningHost, host_env, start_host, wait_for

pytestmark = [pytest.mark.llm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((REPO / "devhost" / "sample_products.json").read_text(encoding="utf-8"))
QUESTIONS = (
    "a light tent for two people on a backpacking trip",
    "something to keep my coffee hot on a cold morning",
    "what can I cook dinner on at camp?",
)


@pytest.fixture(scope="module")
def recorder() -> Iterator[PromptRecorder]:
    options = LlmOptions.from_env()
    prepared, reason = find_prepared(options)
    if prepared is None:
        pytest.skip(reason)
    with prepared.server(options, log_name="test-server.log") as server, PromptRecorder(server.config.base_url) as rec:
        yield rec


@pytest.fixture(scope="module")
def product(recorder: PromptRecorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    options = LlmOptions.from_env()
    prepared, _ = find_prepared(options)
    assert prepared is not None
    env = host_env(
        STORE_BACKEND="local",
        EMBEDDING_BACKEND="local",
        LOCAL_DATA_DIR=str(tmp_path_factory.mktemp("llm-product")),
        CHAT_BACKEND="openai",
        OPENAI_BASE_URL=recorder.base_url,
        CHAT_MODEL=prepared.served_name,
        OPENAI_TIMEOUT_SECONDS="300",
    )
    host = start_host(REPO, "--load-sample", env=env, timeout=120)
    try:

        def all_embedded() -> bool:
            statuses = [host.get(f"/api/products/{p['id']}").json().get("embedding_status") for p in SAMPLE]
            return all(status == "embedded" for status in statuses)

        wait_for(all_embedded, timeout=180, interval=1, message="the sample catalog to be embedded")
        yield host
    finally:
        host.stop()


@pytest.mark.parametrize("question", QUESTIONS)
def test_the_answer_cites_only_what_the_model_was_shown_and_the_repeat_comes_from_the_cache(
    product: RunningHost, recorder: PromptRecorder, question: str
) -> None:
    # One client per caller: the API binds its cache to the signed visitor cookie of the first answer; the client's
    # cookie jar sends it back on the second ask.
    with httpx.Client(base_url=product.base_url, timeout=600) as client:
        since = time.monotonic()
        first = client.post("/api/chat", json={"message": question})
        assert first.status_code == 200, first.text
        body = first.json()
        prompts = recorder.answer_prompts(since)
        assert len(prompts) == 1, f"expected one answer prompt to the model, saw {len(prompts)}"
        shown = prompts[0].products
        assert shown, f"retrieval showed the model no products for {question!r}"

        audit = audit_answer(body["answer"], shown, [p["name"] for p in SAMPLE])
        assert body["cached"] is False
        assert audit.dangling_numbers == [], f"[n] past the {len(shown)} products shown: {body['answer']!r}"
        assert audit.unshown_names == [], f"names products it was not shown: {body['answer']!r}"
        cited_ids = [c["id"] for c in body["citations"]]
        assert cited_ids, f"the answer cites no product, by [n] or by name: {body['answer']!r}"
        assert set(cited_ids) <= {p.id for p in shown}
        if audit.cited_numbers:  # a small model sometimes cites by name only; the API then matches names
            assert cited_ids == [shown[n - 1].id for n in audit.cited_numbers]

        since = time.monotonic()
        again = client.post("/api/chat", json={"message": question})
        assert again.status_code == 200, again.text
        repeat = again.json()
        assert repeat["cached"] is True, "the same question from the same caller was not served from the cache"
        assert repeat["answer"] == body["answer"]
        assert [c["id"] for c in repeat["citations"]] == cited_ids
        assert recorder.answer_prompts(since) == [], "the model was asked again for a cached answer"
