"""``python -m llm setup|serve|run``: the local language model, opt-in (``make run-llm`` runs ``run``)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from llm.gguf_header import NotGgufError
from llm.options import LlmOptions, OptionError
from llm.packaged_model import ModelVerificationError
from llm.product_runner import run_product
from llm.progress import say
from llm.provision import prepare

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llm",
        description="A real language model offline: llama.cpp's OpenAI-compatible server and a small GGUF model "
        "from PyPI packages. Environment: LOCAL_LLM_MODEL (any .gguf instead of the packaged model), LLM_PORT, "
        "LLM_THREADS, LLM_CTX, LLM_DATA_DIR (default .data/llm).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("setup", help="build/install the server and obtain the model (each step once, then reused)")
    commands.add_parser("serve", help="setup, then serve the model on 127.0.0.1 until Ctrl-C")
    run = commands.add_parser("run", help="setup, serve, and run the product (devhost, sample catalog) against it")
    run.add_argument("--host", default="127.0.0.1", help="the product's address (default: %(default)s)")
    run.add_argument("--port", type=int, default=7071, help="the product's port (default: %(default)s)")
    # Any other option goes to `devhost run` as is (`make run-llm RUN_ARGS=...`, as `make run` takes them).
    args, devhost_args = parser.parse_known_args(argv)
    if devhost_args and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(devhost_args)}")
    # Ctrl-C and a plain `kill` both stop the server and the product cleanly, even when started in the background
    # (where a shell may have set SIGINT to be ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    try:
        options = LlmOptions.from_env()
        prepared = prepare(options)
        if args.command == "setup":
            say(f"ready: {prepared.model} served as {prepared.served_name!r} by {prepared.server_python}")
            return 0
        server = prepared.server(options)
        if args.command == "serve":
            with server:
                say(f"OPENAI_BASE_URL={server.config.base_url} CHAT_MODEL={server.config.served_name}  (Ctrl-C stops)")
                signal.pause()
            return 0
        return run_product(server, host=args.host, port=args.port, devhost_args=devhost_args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (OptionError, NotGgufError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except (ModelVerificationError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
