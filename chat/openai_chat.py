"""A chat model behind any OpenAI-compatible endpoint: Azure OpenAI, OpenAI, Ollama, vLLM, llama.cpp server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from chat.models import ChatChunk, ChatModel, ChatPrompt, Usage
from chat.tokens import count_tokens, message_tokens
from transport.openai_wire import is_transient_openai_error, openai_retry_after
from transport.retry import RetryPolicy, retrying

log = logging.getLogger(__name__)

#: Someone is waiting for the answer: a few quick attempts, never a long wait (a server's longer Retry-After is
#: capped at ``max_wait``; past ``max_total_wait`` the error goes to the caller).
CHAT_RETRY_POLICY = RetryPolicy(max_attempts=3, initial_wait=0.5, max_wait=10.0, max_total_wait=20.0)


class OpenAIChatModel(ChatModel):
    """Streams chat completions from an ``openai`` async client created once and reused.

    Starting a completion is retried on 408/409/429/5xx, timeouts and connection failures, waiting at least what the
    server's ``retry-after-ms`` / ``Retry-After`` asks (capped by the policy). Once the first chunk has arrived the
    answer is being shown, so a failure after that propagates rather than starting the answer again.

    Args:
        client: an ``openai.AsyncOpenAI`` or ``openai.AsyncAzureOpenAI`` (whose model name is the deployment); build
            it with ``max_retries=0`` so these retries are the only ones.
        model: the model (or Azure deployment) name; also the cache scope's model identity.
        max_tokens: the longest answer.
        temperature: sampling temperature; low, because answers should stick to the catalog.
        retry_policy: attempts and waits for starting a completion; defaults to :data:`CHAT_RETRY_POLICY`.
        credential: an ``azure.identity.aio`` credential behind the client's token provider, closed by :meth:`close`.
    """

    def __init__(
        self,
        client: Any,
        model: str,
        *,
        max_tokens: int = 600,
        temperature: float = 0.2,
        retry_policy: RetryPolicy = CHAT_RETRY_POLICY,
        credential: Any = None,
    ) -> None:
        self.client = client
        self.model = model
        self.model_id = f"openai:{model}"
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.retry_policy = retry_policy
        self.credential = credential
        #: Completion requests sent so far, retries included.
        self.requests_sent = 0

    async def stream(self, prompt: ChatPrompt) -> AsyncIterator[ChatChunk]:
        response = await self._start_completion(prompt)
        usage: Usage | None = None
        written: list[str] = []
        async for chunk in response:
            if chunk.usage is not None:
                usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
            for choice in chunk.choices or []:
                text = choice.delta.content if choice.delta else None
                if text:
                    written.append(text)
                    yield ChatChunk(text)
        if usage is None:
            # Some compatible servers do not report usage when streaming: count it ourselves.
            usage = Usage(sum(message_tokens(m) for m in prompt.messages), count_tokens("".join(written)))
        yield ChatChunk(usage=usage)

    async def _start_completion(self, prompt: ChatPrompt) -> Any:
        """The streaming response, once the server accepted the request (retried while it is transiently refused)."""
        attempts = retrying(
            self.retry_policy,
            transient=is_transient_openai_error,
            retry_after=openai_retry_after,
            what=f"chat completion ({self.model})",
        )
        async for attempt in attempts:
            with attempt:
                self.requests_sent += 1
                return await self.client.chat.completions.create(
                    model=self.model,
                    messages=prompt.messages,
                    max_tokens=self.max_tokens,
                    temperature=self.temperature,
                    stream=True,
                    stream_options={"include_usage": True},
                )
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    async def close(self) -> None:
        await self.client.close()
        if self.credential is not None:
            await self.credential.close()
