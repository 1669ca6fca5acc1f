"""What the benchmarks ran on: CPU, cores, memory, Python and library versions, date and commit."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
_VERSIONS_OF = ("onnxruntime", "numpy", "openai", "aiohttp", "azure-functions", "tokenizers", "matplotlib")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def machine_info() -> dict[str, Any]:
    """Everything a reader needs to compare these numbers with theirs."""
    status = _git("status", "--porcelain")
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {package: _version(package) for package in _VERSIONS_OF},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        # Which top-level folders held uncommitted changes (several people share a checkout): is the measured code
        # among them?
        "git_dirty_paths": _dirty_paths(status),
    }


def _dirty_paths(status: str | None) -> list[str]:
    paths = set()
    for line in (status or "").splitlines():
        fields = line.split(maxsplit=1)  # "XY path" ("git" strips the first line's leading space)
        if len(fields) < 2:
            continue
        path = fields[1].split(" -> ")[-1].strip('"')
        paths.add(path.split("/", 1)[0] + ("/" if "/" in path else ""))
    return sorted(paths)
