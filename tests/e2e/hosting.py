"""Running ``python -m devhost run`` as a user does: a subprocess on a free port, stopped with SIGINT."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def host_env(**extra: str) -> dict[str, str]:
    """The test process's environment without backend choices, with the repo importable and ``extra`` on top."""
    env = {key: value for key, value in os.environ.items() if key not in {"STORE_BACKEND", "EMBEDDING_BACKEND"}}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


@dataclass
class RunningHost:
    process: subprocess.Popen[bytes]
    base_url: str
    banner: str
    log_path: Path

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.base_url + path, timeout=30, **kwargs)

    def stop(self) -> int:
        """SIGINT, as Ctrl-C does; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


def start_host(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> RunningHost:
    """Start ``run --port 0`` in ``cwd`` and wait for its banner (stdout read unbuffered, so select is honest)."""
    # The log goes to the temporary folder, never into the working tree the host runs in.
    log_fd, log_name = tempfile.mkstemp(prefix="devhost-", suffix=".log")
    os.close(log_fd)
    log_path = Path(log_name)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devhost", "run", "--port", "0", *args],
            cwd=cwd,
            env=env or host_env(),
            stdout=subprocess.PIPE,
            stderr=log,
        )
    assert process.stdout is not None
    output = b""
    deadline = time.monotonic() + timeout
    while b"Press Ctrl+C to stop." not in output:
        ready, _, _ = select.select([process.stdout], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            process.kill()
            pytest.fail(f"the host did not start in time; stdout so far:\n{output.decode()}\n{log_path.read_text()}")
        chunk = os.read(process.stdout.fileno(), 65536)
        if not chunk:
            pytest.fail(f"the host exited with {process.wait()}:\n{output.decode()}\n{log_path.read_text()}")
        output += chunk
    banner = output.decode()
    found = re.search(r" on (http://\S+:\d+)", banner)
    assert found, banner
    return RunningHost(process, found.group(1), banner, log_path)


def wait_for(condition: Any, timeout: float = 60, interval: float = 0.2, message: str = "condition") -> Any:
    """Poll ``condition()`` until it returns something truthy; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
