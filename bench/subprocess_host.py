"""``python -m devhost run`` as a user starts it: a subprocess on a free loopback port, stopped with SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.machine import REPO

#: Settings a developer's shell or local.settings.json might hold that would change what is measured.
_BACKEND_KEYS = ("STORE_BACKEND", "EMBEDDING_BACKEND", "CHAT_BACKEND", "LOCAL_DATA_DIR", "SEARCH_MODE")


def app_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment with the embedded defaults pinned, the repo importable and ``extra`` on top."""
    env = {key: value for key, value in os.environ.items() if key not in _BACKEND_KEYS}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "STORE_BACKEND": "local",
            "EMBEDDING_BACKEND": "local",
            "CHAT_BACKEND": "extractive",
            "LOCAL_DATA_DIR": str(data_dir),
        }
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class HostProcess:
    """A running ``devhost run``; :attr:`started` is the ``time.perf_counter()`` just before it was spawned."""

    process: subprocess.Popen[bytes]
    base_url: str
    started: float
    log_path: Path

    def stop(self) -> int:
        """SIGINT, as Ctrl-C does; the exit code (killed after 60 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def spawn_host(data_dir: Path, log_path: Path, **extra: str) -> HostProcess:
    """Start ``python -m devhost run`` on a free port (no waiting)."""
    port = free_port()
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "devhost", "run", "--port", str(port)],
            cwd=REPO,
            env=app_env(data_dir, **extra),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    return HostProcess(process, f"http://127.0.0.1:{port}", started, log_path)


async def wait_until_answering(host: HostProcess, path: str = "/api/health", timeout: float = 120.0) -> float:
    """Poll ``path`` every 10 ms until it answers 200; returns seconds since the host was spawned.

    Raises:
        RuntimeError: the host exited, or did not answer within ``timeout``.
    """
    deadline = time.perf_counter() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while True:
            if host.process.poll() is not None:
                raise RuntimeError(
                    f"the host exited with {host.process.returncode}: {host.log_path.read_text()[-2000:]}"
                )
            try:
                async with session.get(host.base_url + path) as response:
                    await response.read()
                    if response.status == 200:
                        return time.perf_counter() - host.started
            except (aiohttp.ClientError, TimeoutError):
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(f"the host did not answer {path} within {timeout} s")
            await asyncio.sleep(0.01)
