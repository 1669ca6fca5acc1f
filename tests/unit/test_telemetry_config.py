"""OpenTelemetry is loaded only when the settings ask for it: importing the app never loads an exporter (the cold
start), and ``TELEMETRY_EXPORTER=console`` prints the spans of an invocation with the ledger's figures."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import REPO


def run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_importing_the_app_and_building_services_without_telemetry_loads_no_opentelemetry(tmp_path) -> None:
    result = run(
        f"""
        import sys
        import function_app
        assert not [m for m in sys.modules if m.startswith(("opentelemetry", "azure.monitor"))], "imported at import"
        from composition.services import build_services
        from composition.settings import load_settings
        build_services(load_settings({{"EMBEDDING_BACKEND": "deterministic", "LOCAL_DATA_DIR": {str(tmp_path)!r}}}))
        print(sorted({{m.split(".")[0] for m in sys.modules if m.startswith(("opentelemetry", "azure.monitor"))}}))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_console_exporter_prints_each_invocations_span_with_its_figures(tmp_path) -> None:
    result = run(
        f"""
        import asyncio, json
        import azure.functions as func
        from composition.services import build_services, set_services
        from composition.settings import load_settings
        from tests.app_functions import app_functions

        async def main():
            services = build_services(load_settings({{
                "EMBEDDING_BACKEND": "deterministic", "LOCAL_DATA_DIR": {str(tmp_path)!r},
                "TELEMETRY_EXPORTER": "console", "RATE_LIMIT_PER_MINUTE": "0",
            }}))
            set_services(services)
            search = {{fn.get_function_name(): fn for fn in app_functions()}}["search"].get_user_function()
            request = func.HttpRequest("GET", "/api/search", headers={{}}, params={{"q": "a tent"}}, body=b"")
            assert (await search(request)).status_code == 200
            await services.close()

        asyncio.run(main())
        """
    )
    assert result.returncode == 0, result.stderr
    decoder, text, spans = json.JSONDecoder(), result.stdout, []
    index = text.find("{")
    while index != -1:
        value, end = decoder.raw_decode(text, index)
        spans.append(value)
        index = text.find("{", end)
    [search] = [span for span in spans if span.get("name") == "search.search"]
    assert search["attributes"]["catalog.embedding.tokens"] > 0
    assert search["attributes"]["http.response.status_code"] == 200
