"""``python -m devhost`` as a user runs it: a subprocess, real signals, real HTTP, exit codes and messages."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.hosting import RunningHost, host_env, start_host

# A stand-in for function_app.py with the same routes the CLI talks to, so these tests do not depend on a
# store or an embedding model.
TINY_APP = """
import json

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="ping", methods=["GET"])
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")


@app.route(route="products", methods=["POST"])
def products_bulk(req: func.HttpRequest) -> func.HttpResponse:
    products = json.loads(req.get_body())
    missing = [index for index, product in enumerate(products) if "name" not in product]
    if missing:
        error = {"error": f"products[{missing[0]}].name is required", "field": "name"}
        return func.HttpResponse(json.dumps(error), status_code=400, mimetype="application/json")
    counts = {"created": len(products), "updated": 0, "unchanged": 0}
    return func.HttpResponse(json.dumps(counts), mimetype="application/json")


@app.route(route="search", methods=["GET"])
def search(req: func.HttpRequest) -> func.HttpResponse:
    hits = [
        {"id": "1", "name": f"{req.params['q']} helmet", "category_name": req.params.get("category", "Helmets"),
         "price": 34.99, "score": 0.91234},
        {"id": "2", "name": "Road bike", "category_name": "Bikes", "price": 1200, "score": 0.5},
    ][: int(req.params["k"])]
    return func.HttpResponse(json.dumps({"results": hits}), mimetype="application/json")
"""


def cli_env(**extra: str) -> dict[str, str]:
    return host_env(**extra)


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devhost", *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_app")
    (folder / "function_app.py").write_text(TINY_APP)
    (folder / "host.json").write_text('{"version": "2.0"}')
    return folder


@pytest.fixture(scope="module")
def tiny_host(app_dir: Path) -> Iterator[RunningHost]:
    host = start_host(app_dir)
    yield host
    host.process.send_signal(signal.SIGINT)
    host.process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_help_describes_every_command(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)

    assert result.returncode == 0
    for command in ("run", "load", "search"):
        assert command in result.stdout


def test_run_help_lists_its_options(tmp_path: Path) -> None:
    result = run_cli("run", "--help", cwd=tmp_path)

    assert result.returncode == 0
    for option in ("--host", "--port", "--app", "--load-sample", "--verbose"):
        assert option in result.stdout


def test_run_with_an_invalid_setting_exits_2_with_one_line_naming_it(tmp_path: Path) -> None:
    result = run_cli("run", cwd=tmp_path, STORE_BACKEND="bogus")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "STORE_BACKEND" in lines[0], result.stderr


def test_local_settings_values_are_applied_without_overriding_the_environment(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text('{"IsEncrypted": false, "Values": {"STORE_BACKEND": "bogus"}}')

    from_file = run_cli("run", cwd=tmp_path)
    overridden = run_cli("run", "--app", "no_such_module", cwd=tmp_path, STORE_BACKEND="local")

    assert from_file.returncode == 2 and "STORE_BACKEND='bogus'" in from_file.stderr
    # The environment won, so settings passed and the host went on to import the (missing) app module.
    assert "STORE_BACKEND" not in overridden.stderr and "no_such_module" in overridden.stderr


def test_run_prints_the_routes_and_serves_them(tiny_host: RunningHost) -> None:
    assert f"GET   {tiny_host.base_url}/api/ping  (ping)" in tiny_host.banner
    assert f"POST  {tiny_host.base_url}/api/products  (products_bulk)" in tiny_host.banner

    response = httpx.get(f"{tiny_host.base_url}/api/ping", timeout=10)

    assert response.status_code == 200 and response.text == "pong"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_the_host_cleanly(app_dir: Path, signum: signal.Signals) -> None:
    host = start_host(app_dir)

    host.process.send_signal(signum)
    code = host.process.wait(timeout=30)

    assert code == 0
    assert "Traceback" not in host.log_path.read_text()


def test_load_posts_chunks_and_reports_the_counts(tiny_host: RunningHost, tmp_path: Path) -> None:
    products = tmp_path / "products.json"
    products.write_text('[{"id": "1", "name": "a"}, {"id": "2", "name": "b"}, {"id": "3", "name": "c"}]')

    result = run_cli("load", str(products), "--url", tiny_host.base_url, "--chunk", "2", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "loaded 3 products" in result.stdout and "(3 written, 0 unchanged)" in result.stdout


def test_load_prints_the_servers_error_and_exits_1(tiny_host: RunningHost, tmp_path: Path) -> None:
    products = tmp_path / "products.json"
    products.write_text('[{"id": "1", "name": "a"}, {"id": "2"}]')

    result = run_cli("load", str(products), "--url", tiny_host.base_url, cwd=tmp_path)

    assert result.returncode == 1
    assert "400" in result.stderr and "products[1].name is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_load_refuses_a_file_that_is_not_a_list_of_products(tmp_path: Path) -> None:
    products = tmp_path / "products.json"
    products.write_text('{"id": "1"}')

    result = run_cli("load", str(products), cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {products} must hold a JSON list of product objects"


def test_search_prints_a_table_of_hits(tiny_host: RunningHost, tmp_path: Path) -> None:
    result = run_cli("search", "red", "--url", tiny_host.base_url, "-k", "2", "--category", "Helmets", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["rank", "score", "name", "category", "price"]
    assert lines[1].split() == ["1", "0.912", "red", "helmet", "Helmets", "34.99"]
    assert lines[2].split() == ["2", "0.500", "Road", "bike", "Bikes", "1200.00"]


def test_search_without_a_running_host_says_how_to_start_one(tmp_path: Path) -> None:
    result = run_cli("search", "bikes", "--url", f"http://127.0.0.1:{free_port()}", cwd=tmp_path)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "make run" in lines[0], result.stderr
