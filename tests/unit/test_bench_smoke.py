"""``python -m bench --quick`` over the cheap benchmarks: the files a full run commits appear with their keys.

No timing is asserted (numbers vary by machine); what is asserted is what a reader of docs/bench relies on: the
machine is described, every selected benchmark has its entry and section, and batching really sent fewer requests.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.runner import CHEAP
from tests.conftest import COSMIC_WORKS, REPO

pytestmark = [pytest.mark.slow, pytest.mark.model]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", ",".join(CHEAP), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "# Benchmarks" in done.stdout  # the markdown is printed too
    return out


def test_results_json_describes_the_machine_and_every_selected_benchmark(quick_run: Path) -> None:
    report = json.loads((quick_run / "results.json").read_text())
    machine = report["machine"]
    assert machine["cpu_model"] and machine["cores"] >= 1 and machine["memory_gib"] > 0
    assert machine["python"] and machine["versions"]["onnxruntime"] and machine["date"]
    assert report["run"]["quick"] is True and report["run"]["benchmarks"] == list(CHEAP)
    assert set(report["benchmarks"]) == set(CHEAP)
    for name, result in report["benchmarks"].items():
        assert "error" not in result, (name, result.get("traceback"))

    search = report["benchmarks"]["search"]
    for size in search["sizes"]:
        for key in ("in_process_ms", "http_ms", "in_process_filtered_ms", "http_filtered_ms"):
            assert {"n", "p50", "p99"} <= set(size[key]) and size[key]["n"] > 0
        assert size["index_warmup_ms"] >= 0

    cold = report["benchmarks"]["cold_start"]
    assert {"import_function_app_s", "host_first_health_s", "host_first_search_s"} <= set(cold)


def test_the_pipeline_batches_where_the_tutorial_sends_one_request_per_product(quick_run: Path) -> None:
    pipeline = json.loads((quick_run / "results.json").read_text())["benchmarks"]["pipeline"]
    if not COSMIC_WORKS.exists():
        assert "absent" in pipeline["skipped"]
        return
    assert pipeline["runs"]
    for run in pipeline["runs"]:
        ours, tutorial = run["ours"], run["tutorial"]
        assert ours["embedded"] == tutorial["embedded"] == pipeline["products"]
        assert tutorial["requests"] - tutorial["throttled_429"] == pipeline["products"]
        assert ours["requests"] - ours["throttled_429"] == ours["floor_requests"] < tutorial["requests"]
        assert "wall_s" in ours and "wall_s" in tutorial and "speedup" in run


def test_results_md_has_a_section_per_benchmark(quick_run: Path) -> None:
    markdown = (quick_run / "results.md").read_text()
    for title in ("Embedding pipeline vs the tutorial approach", "Search latency", "Cold-start proxies"):
        assert f"## {title}" in markdown
    assert "| CPU |" in markdown


def test_charts_are_png_files(quick_run: Path) -> None:
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("matplotlib is not installed (the bench extra); results.json and results.md do not need it")
    report = json.loads((quick_run / "results.json").read_text())
    drawn = [name for names in report["charts"].values() for name in names]
    assert "search_latency.png" in drawn
    for name in drawn:
        assert (quick_run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
