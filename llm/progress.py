"""Progress lines for the long steps (download, build, assemble): plain lines, so they read the same in a log."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

#: ninja/make step counters in a build log, e.g. ``[57/312] Building CXX object ...``.
_BUILD_STEP = re.compile(rb"\[(\d+)/(\d+)\]")


def say(message: str, out: TextIO = sys.stdout) -> None:
    """One line of progress, flushed at once."""
    print(f"[llm] {message}", file=out, flush=True)


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"  # pragma: no cover - the loop always returns


def human_seconds(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


class ByteProgress:
    """Prints ``label: 40% (447.0 MiB of 1.0 GiB)`` at most every ``every`` seconds and at the end."""

    def __init__(self, label: str, total: int, *, every: float = 2.0, out: TextIO = sys.stdout) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.every = every
        self.out = out
        self.started = time.monotonic()
        self._last = 0.0

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._last >= self.every or self.done >= self.total:
            self._last = now
            share = self.done / self.total * 100 if self.total else 100.0
            say(f"{self.label}: {share:3.0f}% ({human_bytes(self.done)} of {human_bytes(self.total)})", self.out)


def run_logged(
    command: Sequence[str],
    log_path: Path,
    *,
    label: str,
    env: Mapping[str, str] | None = None,
    every: float = 20.0,
    out: TextIO = sys.stdout,
) -> None:
    """Run ``command`` with its output in ``log_path``, printing elapsed time (and build steps seen) every ``every`` s.

    Raises:
        RuntimeError: the command failed; the message holds the end of the log and its path.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT, env=dict(env) if env else None)
        try:
            while True:
                try:
                    process.wait(timeout=every)
                    break
                except subprocess.TimeoutExpired:
                    step = _last_build_step(log_path)
                    say(f"{label}: {human_seconds(time.monotonic() - started)} so far{step} (log: {log_path})", out)
        except BaseException:
            process.terminate()
            process.wait()
            raise
    if process.returncode != 0:
        tail = log_path.read_bytes()[-3000:].decode(errors="replace")
        raise RuntimeError(f"{label} failed (exit {process.returncode}); the end of {log_path}:\n{tail}")
    say(f"{label}: done in {human_seconds(time.monotonic() - started)}", out)


def _last_build_step(log_path: Path) -> str:
    try:
        with log_path.open("rb") as log:
            log.seek(max(0, log_path.stat().st_size - 65536))
            steps = _BUILD_STEP.findall(log.read())
    except OSError:
        return ""
    if not steps:
        return ""
    done, total = steps[-1]
    return f", compiled {int(done)} of {int(total)} build steps"
