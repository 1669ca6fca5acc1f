"""The real-model tests run only when asked (``make test-llm`` sets ``LLM_TESTS=1``); any other run skips them with
the reason, so ``make test`` never starts a language model. Tests here without the ``llm`` marker (the tooling's own
checks, which need no model) always run."""

from __future__ import annotations

import os

import pytest

RUN_ENV = "LLM_TESTS"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(RUN_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"needs the local language model: `make test-llm` runs it ({RUN_ENV}=1)")
    for item in items:
        # get_closest_marker, not keywords: every test in this folder has the keyword "llm" (the package name).
        if item.get_closest_marker("llm") is not None:
            item.add_marker(skip)
