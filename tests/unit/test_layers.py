"""The import graph runs one way: glue → features → interfaces ← adapters, with one composition root on top.

Read from the source with ``ast`` (no module is imported), so a new upward import fails here before it can grow
into a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: What each package may import from this repository (besides itself). Everything not listed is forbidden.
ALLOWED: dict[str, set[str]] = {
    "transport": set(),
    "store": set(),
    "embedding": {"transport"},
    "ledger": {"store"},
    "catalog": {"store", "embedding", "transport"},
    "chat": {"catalog", "store", "embedding", "transport", "ledger"},
    "api": {"catalog", "chat", "transport"},
    "composition": {"catalog", "chat", "embedding", "store", "transport", "ledger"},
    "blueprints": {"api", "catalog", "chat", "composition", "embedding", "store", "transport", "ledger"},
    # The local host and CLI; `migrate evaluate` scores slots with the team's labelled questions (evaluation/).
    "devhost": {
        *("api", "catalog", "chat", "composition", "embedding", "store", "transport", "blueprints", "ledger"),
        "evaluation",
    },
}
PACKAGES = set(ALLOWED) | {"bench", "evaluation", "function_app", "tests"}


def _imports(path: Path) -> set[str]:
    """Top-level names of this repository's packages that ``path`` imports (TYPE_CHECKING blocks included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names if name.split(".")[0] in PACKAGES}
    return found


def _edges() -> list[tuple[str, str, str]]:
    edges = []
    for package in ALLOWED:
        for path in sorted((REPO / package).rglob("*.py")):
            for target in _imports(path) - {package}:
                edges.append((package, target, str(path.relative_to(REPO))))
    return edges


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    upward = [f"{where} imports {target}" for source, target, where in _edges() if source == package]
    upward = [line for line in upward if line.rsplit(" ", 1)[1] not in ALLOWED[package]]
    assert upward == [], f"{package} may import only {sorted(ALLOWED[package])}: " + "; ".join(upward)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from composition.services import get_services\nimport catalog.model\n", encoding="utf-8")
    assert _imports(module) == {"composition", "catalog"}


def test_function_app_only_registers_blueprints() -> None:
    assert _imports(REPO / "function_app.py") == {"blueprints"}
