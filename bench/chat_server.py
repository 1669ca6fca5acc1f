"""A loopback OpenAI-compatible chat-completions endpoint that writes slowly, standing in for a language model.

``POST /v1/chat/completions`` answers with a fixed, cited answer of ``answer_tokens`` word-sized tokens; with
``"stream": true`` it sends them as server-sent ``chat.completion.chunk`` events, the first after
``first_token_delay`` seconds and each next one ``token_delay`` seconds later (a usage chunk last when
``stream_options.include_usage`` asks), as OpenAI and Azure OpenAI do.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiohttp import web

from bench.loopback import LoopbackServer

_ANSWER_WORDS = (
    "Based on the catalog, the best match is the first product [1], because its description says it does exactly "
    "what you asked; the second [2] is a cheaper alternative with fewer features, and the third [3] suits a larger "
    "group. All three are in stock at the listed prices, and each links to its product page for the details you "
    "may want to compare before you buy."
).split()


class FakeChatCompletions(LoopbackServer):
    """The server. Use as ``async with FakeChatCompletions(token_delay=0.02) as server:``; base URL :attr:`base_url`.

    Args:
        first_token_delay: seconds before the first token (prompt processing).
        token_delay: seconds between tokens.
        answer_tokens: tokens per answer.
    """

    def __init__(self, *, first_token_delay: float = 0.3, token_delay: float = 0.02, answer_tokens: int = 60) -> None:
        self.first_token_delay = first_token_delay
        self.token_delay = token_delay
        self.answer_tokens = answer_tokens
        self.requests = 0
        super().__init__()

    @property
    def base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` should be."""
        return f"http://127.0.0.1:{self.port}/v1"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._completions)

    def _tokens(self) -> list[str]:
        words = [_ANSWER_WORDS[i % len(_ANSWER_WORDS)] for i in range(self.answer_tokens)]
        return [word + ("" if i == len(words) - 1 else " ") for i, word in enumerate(words)]

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.json()
        model = str(body.get("model") or "sim-llm")
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
        tokens = self._tokens()
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(tokens),
            "total_tokens": prompt_tokens + len(tokens),
        }
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if not body.get("stream"):
            await asyncio.sleep(self.first_token_delay + self.token_delay * max(len(tokens) - 1, 0))
            message = {"role": "assistant", "content": "".join(tokens)}
            payload = {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage,
            }
            return web.json_response(payload)

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)

        async def send(choices: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
            chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **(extra or {}),
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await asyncio.sleep(self.first_token_delay)
        await send([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for position, token in enumerate(tokens):
            if position:
                await asyncio.sleep(self.token_delay)
            await send([{"index": 0, "delta": {"content": token}, "finish_reason": None}])
        await send([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if (body.get("stream_options") or {}).get("include_usage"):
            await send([], {"usage": usage})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
