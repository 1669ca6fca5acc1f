"""A chat model behind any OpenAI-compatible endpoint: Azure OpenAI, OpenAI, Ollama, vLLM, llama.cpp server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from chat.models import ChatChunk, ChatModel, ChatPrompt, Usage
from chat.tokens import count_tokens, message_tokens


class OpenAIChatModel(ChatModel):
    """Streams chat completions from an ``openai`` async client created once and reused.

    Args:
        client: an ``openai.AsyncOpenAI`` or ``openai.AsyncAzureOpenAI`` (whose model name is the deployment).
        model: the model (or Azure deployment) name; also the cache scope's model identity.
        max_tokens: the longest answer.
        temperature: sampling temperature; low, because answers should stick to the catalog.
    """

    def __init__(self, client: Any, model: str, *, max_tokens: int = 600, temperature: float = 0.2) -> None:
        self.client = client
        self.model = model
        self.model_id = f"openai:{model}"
        self.max_tokens = max_tokens
        self.temperature = temperature

    async def stream(self, prompt: ChatPrompt) -> AsyncIterator[ChatChunk]:
        response = await self.client.chat.completions.create(
            model=self.model,
            messages=prompt.messages,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            stream=True,
            stream_options={"include_usage": True},
        )
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

    async def close(self) -> None:
        await self.client.close()
