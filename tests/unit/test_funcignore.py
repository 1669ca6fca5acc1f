"""What goes to Azure: ``.funcignore`` leaves out the local host, tests and tooling, and keeps everything the app
imports."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from tests.conftest import REPO

#: Folders that are for a developer's machine (or CI) only; ``devhost`` is a web server with no authentication.
NOT_DEPLOYED = ("devhost", "tests", "bench", "evaluation", "docs", "node_modules", ".data")
#: What the Functions host needs to run the app.
DEPLOYED = ("function_app.py", "host.json", "requirements.txt")


def patterns() -> list[str]:
    lines = (REPO / ".funcignore").read_text(encoding="utf-8").splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.lstrip().startswith("#")]


def ignored(path: str, rules: list[str]) -> bool:
    """gitignore's rule for patterns without a slash: a match on any component of the path excludes it."""
    return any(fnmatch.fnmatchcase(part, rule) for part in Path(path).parts for rule in rules if "/" not in rule)


def runtime_packages() -> list[str]:
    """The packages the deployed app imports: every folder whose package the import-layer test names."""
    from tests.unit.test_layers import ALLOWED

    return sorted(package for package in ALLOWED if package != "devhost")


def test_the_local_host_tests_and_tooling_stay_out_of_the_package() -> None:
    rules = patterns()
    for folder in NOT_DEPLOYED:
        assert ignored(f"{folder}/some_file.py", rules), f"{folder}/ would be deployed"
    assert ignored("devhost/cli/run.py", rules) and ignored("devhost/sample_products.json", rules)


def test_everything_the_app_imports_is_deployed() -> None:
    rules = patterns()
    for name in DEPLOYED:
        assert not ignored(name, rules), name
    for package in runtime_packages():
        for module in sorted((REPO / package).rglob("*.py")):
            relative = str(module.relative_to(REPO))
            assert "__pycache__" in relative or not ignored(relative, rules), f"{relative} would be left out"
