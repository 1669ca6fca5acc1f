"""Run ``python -m llama_cpp.server`` on 127.0.0.1 and wait until ``/v1/models`` answers."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm.progress import human_seconds, say

LOOPBACK = "127.0.0.1"
#: llama.cpp's per-request timing lines, e.g. ``prompt eval time =  1204.30 ms /  35 tokens``.
_PERF = re.compile(r"(prompt eval|\beval) time =\s*([\d.]+) ms /\s*(\d+) (?:tokens|runs)")


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ServerConfig:
    """What the server runs: the model file, the name it answers to, and how it uses the machine."""

    python: Path
    model: Path
    served_name: str
    port: int
    threads: int
    context_tokens: int
    log_path: Path

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``OPENAI_BASE_URL``)."""
        return f"http://{LOOPBACK}:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            str(self.python), "-m", "llama_cpp.server",
            "--model", str(self.model),
            "--model_alias", self.served_name,
            "--host", LOOPBACK,
            "--port", str(self.port),
            "--n_ctx", str(self.context_tokens),
            "--n_threads", str(self.threads),
            "--n_threads_batch", str(self.threads),
        ]  # fmt: skip


class LlamaServer:
    """A running llama.cpp server process; :meth:`stop` ends it (SIGINT, then SIGKILL after a grace period)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 300.0) -> LlamaServer:
        """Spawn the server and wait until ``/v1/models`` lists the model.

        Raises:
            RuntimeError: the server exited or did not answer within ``timeout`` (the end of its log is included).
        """
        config = self.config
        config.log_path.parent.mkdir(parents=True, exist_ok=True)
        say(f"server: starting llama.cpp on {config.base_url} with {config.model.name} (log: {config.log_path})")
        with config.log_path.open("wb") as log:
            self.process = subprocess.Popen(config.command(), stdout=log, stderr=subprocess.STDOUT)
        started = time.monotonic()
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the llama.cpp server exited with {self.process.returncode}:\n{self._log_tail()}")
            if self.models() is not None:
                say(f"server: ready in {human_seconds(time.monotonic() - started)}, model {config.served_name!r}")
                return self
            if time.monotonic() - started > timeout:
                self.stop()
                raise RuntimeError(f"the llama.cpp server did not answer within {timeout:.0f} s:\n{self._log_tail()}")
            time.sleep(0.25)

    def models(self) -> list[str] | None:
        """The model ids ``/v1/models`` lists, or ``None`` while it does not answer."""
        try:
            with urllib.request.urlopen(self.config.base_url + "/models", timeout=2) as response:
                body: Any = json.loads(response.read())
        except (OSError, urllib.error.URLError, ValueError):
            return None
        return [str(item.get("id")) for item in body.get("data", [])]

    def stop(self, grace: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def perf_timings(self) -> dict[str, Any]:
        """llama.cpp's own speeds from this server's log: median prompt reading and generation tokens/s.

        A prompt prefix unchanged since the previous request is reused, not read again, so it is not counted.
        """
        try:
            text = self.config.log_path.read_text(errors="replace")
        except OSError:
            text = ""
        prompt: list[float] = []
        generation: list[float] = []
        for kind, ms, count in _PERF.findall(text):
            if float(ms) > 0 and int(count) > 0:
                (prompt if kind == "prompt eval" else generation).append(int(count) / (float(ms) / 1000))
        return {
            "prompt_tokens_per_s_p50": _median(prompt),
            "generation_tokens_per_s_p50": _median(generation),
            "requests_timed": len(generation),
        }

    def _log_tail(self) -> str:
        try:
            return self.config.log_path.read_bytes()[-3000:].decode(errors="replace")
        except OSError:
            return "(no log)"

    def __enter__(self) -> LlamaServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _median(values: list[float]) -> float | None:
    return round(sorted(values)[len(values) // 2], 2) if values else None
