"""Benchmark 6: cold-start proxies: importing ``function_app`` in a fresh interpreter, and a fresh local host's
time to its first answered requests.

* import: ``python -c "import function_app"`` in a new process, repeated; the time inside the interpreter (around the
  import) and the whole process (interpreter start-up and exit included), against an empty ``python -c pass``;
* host: ``python -m devhost run`` on an empty store, from spawning the process to the first ``200`` of
  ``GET /api/health``, then of ``GET /api/search`` (which needs the model loaded and the question embedded).

What Azure adds on a real cold start (allocating a worker, mounting the package, starting the Functions host and
the Python worker) is not here; this is the part the app's own code decides.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.catalog_data import RunOptions
from bench.machine import REPO
from bench.subprocess_host import app_env, spawn_host, wait_until_answering

NAME = "cold_start"
TITLE = "Cold-start proxies"

IMPORT_REPEATS = 10
HOST_REPEATS = 3
_TIMED_IMPORT = "import time; started = time.perf_counter(); import function_app; print(time.perf_counter() - started)"


def _time_process(code: str, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return time.perf_counter() - started, done.stdout.strip()


async def run(options: RunOptions) -> dict[str, Any]:
    work = options.scratch("cold-start")
    env = app_env(work / "import-data")
    repeats = 3 if options.quick else IMPORT_REPEATS
    bare_s = [_time_process("pass", env)[0] for _ in range(repeats)]
    import_inside_s: list[float] = []
    import_process_s: list[float] = []
    for _ in range(repeats):
        wall, printed = _time_process(_TIMED_IMPORT, env)
        import_process_s.append(wall)
        import_inside_s.append(float(printed.splitlines()[-1]))
    hosts = []
    for number in range(1 if options.quick else HOST_REPEATS):
        host = spawn_host(work / f"host-data-{number}", work / f"host-{number}.log")
        try:
            health_s = await wait_until_answering(host)
            search_s = await wait_until_answering(host, "/api/search?q=warm+jacket&k=3")
        finally:
            host.stop()
        hosts.append({"first_health_s": round(health_s, 3), "first_search_s": round(search_s, 3)})
        await asyncio.sleep(0)
    return {
        "import_repeats": repeats,
        "python_bare_process_s": _median(bare_s),
        "import_function_app_s": _median(import_inside_s),
        "import_function_app_process_s": _median(import_process_s),
        "import_function_app_all_s": [round(value, 3) for value in import_inside_s],
        "host_repeats": len(hosts),
        "host_first_health_s": _median([host["first_health_s"] for host in hosts]),
        "host_first_search_s": _median([host["first_search_s"] for host in hosts]),
        "hosts": hosts,
    }


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def markdown(result: dict[str, Any]) -> list[str]:
    return [
        f"Medians of {result['import_repeats']} fresh interpreters and {result['host_repeats']} fresh hosts "
        "(empty store, local model).",
        "",
        "| `import function_app` (in the interpreter) | same, whole process | `python -c pass` | "
        "`devhost run` → first `/api/health` | → first `/api/search` |",
        "|---|---|---|---|---|",
        f"| {result['import_function_app_s']:.2f} s | {result['import_function_app_process_s']:.2f} s | "
        f"{result['python_bare_process_s']:.2f} s | {result['host_first_health_s']:.2f} s | "
        f"{result['host_first_search_s']:.2f} s |",
    ]
