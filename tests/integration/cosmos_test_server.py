"""A Cosmos DB for NoSQL protocol server for tests: ``@vercel/cosmosdb-server`` (npm, pinned in package.json).

It speaks the real REST protocol over HTTPS (self-signed; the Python SDK skips certificate checks for 127.0.0.1 and
localhost), keeps everything in memory and accepts any well-formed key, so the real ``azure.cosmos.aio`` client
code path — URLs, headers, retries, query plans — is what the tests exercise. Where it differs from Cosmos DB
(version 1.0.1):

* no ``VectorDistance`` (ORDER BY it is a 400) and no incremental change feed (every read returns all documents,
  then "not modified"): the contract suite declares both capabilities missing;
* a point read of a missing item crashes into a 500 where Cosmos DB answers 404: ``cosmos_server.mjs`` turns that
  one crash into Cosmos DB's 404 NotFound, so the store's point reads see what they would see in Azure;
* ``set`` under a missing parent (``/missing/child``) sets ``/child`` instead of failing with 400 (a known gap in
  ``tests/contract/conftest.py``);
* a patch's filter predicate is lower-cased before it is evaluated, so string comparisons in predicates ignore
  case there (``"Shoes"`` matches ``"shoes"``);
* ``!=`` compares values of different types (``null != true`` is true), which the store's ``ne`` guards against.

One server serves the whole test session: :func:`shared_cosmos_test_server` starts it on first use on a free
loopback port and stops it when the interpreter exits (it also exits by itself when its stdin closes, so it never
outlives pytest).
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("cosmos_server.mjs")
PACKAGE = REPO / "node_modules" / "@vercel" / "cosmosdb-server"
#: The Cosmos DB emulator's published, well-known key (not a secret); the test server accepts any key.
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
STARTUP_TIMEOUT_SECONDS = 30.0


@dataclass
class CosmosTestServer:
    """A running server: its endpoint and the key to use."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    key: str = EMULATOR_KEY

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self.process.stdout is not None:
            self.process.stdout.close()


def unavailable_reason() -> str | None:
    """Why the server cannot start here, or ``None`` when it can."""
    if shutil.which("node") is None:
        return "node is not installed (Node 20+ runs the Cosmos DB test server)"
    if not PACKAGE.is_dir():
        return f"{PACKAGE.relative_to(REPO)} is missing: run `npm ci` (make test does)"
    return None


def start_cosmos_test_server() -> CosmosTestServer:
    """Start a server on a free loopback port and wait until it listens."""
    log_path = Path(tempfile.mkstemp(prefix="cosmos-test-server-", suffix=".log")[1])
    with open(log_path, "wb") as log:
        # stderr goes to a file: the server logs every 500 with a stack trace, and an unread pipe could fill up.
        process = subprocess.Popen(
            ["node", str(LAUNCHER), "0"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    line = b""
    while not line.endswith(b"\n") and time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(process.stdout.fileno(), 64)
            if not chunk:
                break
            line += chunk
    if not line.strip().isdigit():
        process.kill()
        process.wait(timeout=5)
        raise RuntimeError(
            f"the Cosmos DB test server did not start (printed {line!r}); its log:\n{log_path.read_text()[-2000:]}"
        )
    return CosmosTestServer(process, int(line), log_path)


_shared: CosmosTestServer | None = None


def shared_cosmos_test_server() -> CosmosTestServer:
    """The session's server, started on first use; skips (or fails under ``CI``) when it cannot run here."""
    global _shared
    if _shared is None or _shared.process.poll() is not None:
        reason = unavailable_reason()
        if reason is not None:
            if os.environ.get("CI"):
                pytest.fail(f"the Cosmos DB test server cannot run in CI: {reason}")
            pytest.skip(f"Cosmos DB test server unavailable: {reason}")
        _shared = start_cosmos_test_server()
        atexit.register(_shared.stop)
    return _shared


@pytest.fixture(scope="session")
def cosmos_test_server() -> CosmosTestServer:
    """The session's Cosmos DB protocol server (see :func:`shared_cosmos_test_server`)."""
    return shared_cosmos_test_server()
