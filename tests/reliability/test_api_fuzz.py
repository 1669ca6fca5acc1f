"""Schemathesis over every operation of ``/api/openapi.json`` against the real app on a local host: zero 5xx.

Cases come from the document the app serves, valid and invalid (examples, boundary values, random data and
stateful sequences), so a bound the handlers enforce but the document misstates shows up too: every response must
have a documented status code and content type and match its schema, and every request the document calls invalid
must be refused with a 4xx.

Schemathesis's engine runs the cases (``schemathesis.pytest.from_fixture`` cannot run on pytest 9: it sets
``request.node._nodeid``, which pytest 9 nodes no longer have).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.core.result import Ok
from schemathesis.engine import Status, events

from tests.reliability.conftest import ThreadedHost

pytestmark = pytest.mark.slow

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
]
MAX_EXAMPLES = 30


@pytest.fixture(autouse=True)
def hypothesis_files_in_a_temporary_folder(tmp_path: Path) -> Iterator[None]:
    """Hypothesis caches data in ``.hypothesis/`` under the working directory, database or not; not in the repo."""
    set_hypothesis_home_dir(tmp_path / "hypothesis")
    yield
    set_hypothesis_home_dir(None)


def test_no_operation_answers_with_a_server_error_or_off_the_document(live_host: ThreadedHost) -> None:
    document_url = f"{live_host.base_url}/api/openapi.json"
    schema = schemathesis.openapi.from_url(document_url)
    schema.config.update(base_url=f"{live_host.base_url}/api", request_timeout=30)
    schema.config.generation.update(max_examples=MAX_EXAMPLES, database="none")
    schema.config.checks.update(included_check_names=CHECKS)
    # A list over its documented maxItems (bulk products) is refused as too large: 413 is a refusal too.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    schema.config.phases.update(phases=["examples", "coverage", "fuzzing", "stateful"])
    # Schemathesis leaves out the operation serving the document it loaded; every other one must run.
    paths = httpx.get(document_url).json()["paths"]
    documented = {
        f"{method.upper()} {path}" for path, item in paths.items() for method in item if method != "parameters"
    }
    loaded = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert {operation.label for operation in loaded} == documented - {"GET /openapi.json"}

    failures: list[str] = []
    requests_sent: Counter[str] = Counter()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.label is not None:
            requests_sent[event.label] += len(event.recorder.interactions)
            for nodes in event.recorder.checks.values():
                failures.extend(
                    f"{event.label}: {node.name}: {node.failure_info.failure.title}\n{node.failure_info.code_sample}"
                    for node in nodes
                    if node.status == Status.FAILURE and node.failure_info is not None
                )
        elif isinstance(event, events.NonFatalError):
            failures.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            pytest.fail(f"schemathesis could not run: {event.exception!r}")

    assert not failures, "\n\n".join(dict.fromkeys(failures))
    # Every operation was exercised (a run that tested nothing must not pass).
    assert {label for label, count in requests_sent.items() if count >= 10} == documented - {"GET /openapi.json"}
