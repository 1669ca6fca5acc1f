"""A pass-through between the product and the model server that records each chat prompt it forwards.

Benchmarks and tests put it in front of the llama.cpp server (``OPENAI_BASE_URL`` points at the recorder) to learn
exactly which products the model was shown for an answer: the ``<products>`` block of the prompt's last user
message (the layout :mod:`chat.prompt` writes). Responses, streamed ones included, are relayed chunk by chunk.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from llm.server import LOOPBACK

_PRODUCT = re.compile(r'<product n="(\d+)"(?: id="((?:[^"\\]|\\.)*)")?>\n(.*?)\n</product>', re.S)
#: A record's first line, as chat/prompt.py writes it: "[1] Name — Category — $price".
_RECORD_HEAD = re.compile(r"^\[\d+\] (.*?)(?: — .*)?$", re.M)
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "host"}


class PromptLayoutError(ValueError):
    """A prompt has a ``<products>`` block this reader cannot parse (the prompt's layout changed)."""


@dataclass(frozen=True)
class ShownProduct:
    """A product as the model saw it: its number in the prompt, its id (when the prompt carries ids) and its text,
    whose first line is the product's name."""

    number: int
    id: str
    text: str


@dataclass(frozen=True)
class RecordedPrompt:
    """One chat-completion request the product sent to the model."""

    messages: list[dict[str, Any]]
    sent_at: float
    body: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def data_message(self) -> str:
        """The last user message (the products block and the question)."""
        users = [m for m in self.messages if m.get("role") == "user"]
        return str(users[-1].get("content") or "") if users else ""

    @property
    def is_answer(self) -> bool:
        """Whether this asks for an answer from products (and not, say, a follow-up rewrite)."""
        return "<products>" in self.data_message

    @property
    def products_block(self) -> str:
        text = self.data_message
        start, end = text.find("<products>"), text.find("</products>")
        return text[start : end + len("</products>")] if start >= 0 and end > start else ""

    @property
    def products(self) -> list[ShownProduct]:
        """The numbered products of the ``<products>`` block, in order.

        Raises:
            PromptLayoutError: the block holds something that is neither products nor the no-match marker.
        """
        block = self.products_block
        found = [
            ShownProduct(int(n), html.unescape(json.loads(f'"{raw_id}"')) if raw_id else "", _named_first(text))
            for n, raw_id, text in _PRODUCT.findall(block)
        ]
        if not found and block and "<product " in block:
            raise PromptLayoutError(f"cannot read the products of this prompt block: {block[:300]!r}")
        return found


def _named_first(text: str) -> str:
    """The record's text with the product's name alone on its first line ("[1] Name — Category — $9" → "Name")."""
    text = html.unescape(text)
    head, _, rest = text.partition("\n")
    named = _RECORD_HEAD.match(head)
    return f"{named.group(1)}\n{head}\n{rest}" if named else text


class PromptRecorder:
    """Relays ``/v1/*`` to ``upstream`` (an OpenAI base URL ending in ``/v1``) from a background thread.

    Use as a context manager; :attr:`base_url` is what the product's ``OPENAI_BASE_URL`` should be.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = 0
        self._prompts: list[RecordedPrompt] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1"

    def prompts(self) -> list[RecordedPrompt]:
        with self._lock:
            return list(self._prompts)

    def answer_prompts(self, since: float = 0.0) -> list[RecordedPrompt]:
        """The answer prompts recorded at or after ``since`` (``time.monotonic()``)."""
        return [p for p in self.prompts() if p.is_answer and p.sent_at >= since]

    def start(self) -> PromptRecorder:
        self._thread = threading.Thread(target=self._serve_forever, name="prompt-recorder", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("the prompt recorder did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> PromptRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve_forever(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
        async with aiohttp.ClientSession(timeout=timeout) as self._session:
            app = web.Application(client_max_size=16 * 1024 * 1024)
            app.router.add_route("*", "/v1/{tail:.*}", self._relay)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, LOOPBACK, 0)
            await site.start()
            self.port = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
            self._ready.set()
            await self._stopping.wait()
            await runner.cleanup()

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        if request.method == "POST" and request.path.endswith("/chat/completions"):
            parsed = json.loads(body or b"{}")
            with self._lock:
                self._prompts.append(RecordedPrompt(list(parsed.get("messages") or []), time.monotonic(), parsed))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        url = (
            self.upstream
            + request.path.removeprefix("/v1")
            + (f"?{request.query_string}" if request.query_string else "")
        )
        async with self._session.request(request.method, url, data=body, headers=headers) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-encoding":
                    response.headers[key] = value
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
