"""The product (``python -m devhost run --load-sample``, as ``make run`` starts it) answering with the local model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence

from llm.options import REPO
from llm.progress import say
from llm.server import LlamaServer

#: A 1.5B model on 2 CPU cores reads a 1,000-token prompt in several seconds before its first token; the app's
#: 30 s default would time out (and retry) under load. Only a default: a value in the environment wins.
OPENAI_TIMEOUT_SECONDS = "180"


def product_env(server: LlamaServer, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` with the chat pointed at ``server``: ``CHAT_BACKEND=openai``, ``OPENAI_BASE_URL``, ``CHAT_MODEL``."""
    env = dict(os.environ if environ is None else environ)
    env.update(
        {
            "CHAT_BACKEND": "openai",
            "OPENAI_BASE_URL": server.config.base_url,
            "CHAT_MODEL": server.config.served_name,
        }
    )
    env.setdefault("OPENAI_TIMEOUT_SECONDS", OPENAI_TIMEOUT_SECONDS)
    return env


def run_product(server: LlamaServer, *, host: str, port: int, devhost_args: Sequence[str] = ()) -> int:
    """Start ``server``, then the dev host with the sample catalog pointed at it; Ctrl-C stops both.

    Args:
        server: the (not yet started) llama.cpp server.
        host: the product's address.
        port: the product's port.
        devhost_args: more ``devhost run`` options, passed as they are.

    Returns:
        The dev host's exit code (130 after Ctrl-C).
    """
    server.start()
    command = [
        sys.executable,
        "-m",
        "devhost",
        "run",
        "--host",
        host,
        "--port",
        str(port),
        "--load-sample",
        *devhost_args,
    ]
    say(
        f"product: CHAT_BACKEND=openai OPENAI_BASE_URL={server.config.base_url} CHAT_MODEL={server.config.served_name} "
        f"{' '.join(command[1:])}"
    )
    product = subprocess.Popen(command, cwd=REPO, env=product_env(server))
    interrupted = False
    try:
        code = product.wait()
    except KeyboardInterrupt:
        # In a terminal, Ctrl-C reached the whole process group: the host is already shutting down cleanly.
        interrupted = True
        code = _stop(product)
    finally:
        if product.poll() is None:
            code = _stop(product)
        server.stop()
        say("stopped the product and the llama.cpp server")
    return 130 if interrupted else code


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
