"""``python -m devhost`` as a user runs it: a subprocess, real signals, real HTTP, exit codes and messages."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.hosting import REPO, RunningHost, host_env, start_host

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
    for option in ("--host", "--allow-remote", "--port", "--app", "--load-sample", "--verbose"):
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


#: A log record as ``run`` prints them (time, level, logger): not part of an error message.
LOG_LINE = re.compile(r"\d\d:\d\d:\d\d (DEBUG|INFO|WARNING) ")


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single ``error: ...`` line a refused command prints (exit 2, never a traceback; ``run`` logs too)."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not LOG_LINE.match(line)]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# ------------------------------------------------------------------------------------------ where the host is


def test_search_finds_the_host_on_port_or_catalog_url(tiny_host: RunningHost, tmp_path: Path) -> None:
    port = tiny_host.base_url.rsplit(":", 1)[1]

    by_port = run_cli("search", "red", "-k", "1", cwd=tmp_path, PORT=port)
    by_url = run_cli("search", "red", "-k", "1", cwd=tmp_path, CATALOG_URL=tiny_host.base_url)

    assert by_port.returncode == 0 and "red helmet" in by_port.stdout, by_port.stderr
    assert by_url.returncode == 0 and "red helmet" in by_url.stdout, by_url.stderr


def test_load_finds_the_host_through_local_settings(tiny_host: RunningHost, tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"CATALOG_URL": tiny_host.base_url}}))
    products = tmp_path / "products.json"
    products.write_text('[{"id": "1", "name": "a"}]')

    result = run_cli("load", str(products), cwd=tmp_path)

    assert result.returncode == 0 and f"into {tiny_host.base_url}/api/products" in result.stdout, result.stderr


def test_a_port_that_is_not_a_number_is_named(tmp_path: Path) -> None:
    assert "PORT='seventy'" in one_line_error(run_cli("search", "bikes", cwd=tmp_path, PORT="seventy"))


# ---------------------------------------------------------------------------------------------- other machines


def test_listening_where_other_machines_reach_the_host_needs_allow_remote(tmp_path: Path) -> None:
    line = one_line_error(run_cli("run", "--host", "0.0.0.0", cwd=tmp_path))

    assert "--allow-remote" in line and "0.0.0.0" in line


def test_with_allow_remote_the_host_warns_and_serves(app_dir: Path) -> None:
    host = start_host(app_dir, "--host", "0.0.0.0", "--allow-remote")
    try:
        port = host.base_url.rsplit(":", 1)[1]
        response = httpx.get(f"http://127.0.0.1:{port}/api/ping", timeout=10)
    finally:
        assert host.stop() == 0

    assert response.text == "pong"
    assert "warning: listening on 0.0.0.0" in host.log_path.read_text()


# ------------------------------------------------------------------------------------ mistakes at start-up


def offline_env(data_dir: Path, **extra: str) -> dict[str, str]:
    return {"EMBEDDING_BACKEND": "deterministic", "LOCAL_DATA_DIR": str(data_dir), **extra}


def test_load_direct_names_the_invalid_item_and_what_was_not_written(tmp_path: Path) -> None:
    products = tmp_path / "products.json"
    items = [{"id": str(n), "name": f"p{n}", "description": "d", "price": 1} for n in range(3)] + [{"id": "3"}]
    products.write_text(json.dumps(items))

    line = one_line_error(
        run_cli("load", "--direct", str(products), "--chunk", "2", cwd=tmp_path, **offline_env(tmp_path / "data"))
    )

    assert "products[3].name is required" in line and "products[2] and later were not written" in line
    assert str(products) in line


def test_a_change_of_embedding_model_names_the_setting(tmp_path: Path) -> None:
    products = tmp_path / "products.json"
    products.write_text('[{"id": "1", "name": "Kettle", "description": "A camp kettle.", "price": 20}]')
    env = offline_env(tmp_path / "data")

    assert run_cli("load", "--direct", str(products), cwd=tmp_path, **env).returncode == 0
    line = one_line_error(
        run_cli("load", "--direct", str(products), cwd=tmp_path, **{**env, "EMBEDDING_BACKEND": "local"})
    )

    assert "EMBEDDING_BACKEND" in line and "dimension" in line


def test_run_right_after_copying_the_example_settings_names_the_placeholder(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text((REPO / "local.settings.json.example").read_text())

    line = one_line_error(run_cli("run", "--port", "0", cwd=tmp_path))

    assert "COSMOS_CONNECTION__accountEndpoint" in line and "<your-account>" in line


def test_a_damaged_data_file_is_named_at_start_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "catalog.sqlite3").write_bytes(b"this is not a SQLite database, it was cut short by a full disk" * 100)

    line = one_line_error(run_cli("run", "--port", "0", cwd=tmp_path, **offline_env(data)))

    assert "catalog.sqlite3" in line
