"""``catalog run``: the stand-in for ``func start`` where Azure Functions Core Tools is not installed.

With Core Tools, ``func start`` runs the same ``function_app.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from composition.services import Services, get_services
from devhost.cli.common import (
    EXIT_CONFIG,
    StartupError,
    fail,
    open_store,
    prepare_settings,
    run_port,
    user_error_message,
)
from devhost.host import HostError, LocalFunctionsHost
from devhost.request_guards import is_loopback

DEFAULT_HOST = "127.0.0.1"
SAMPLE_PRODUCTS = Path(__file__).resolve().parent.parent / "sample_products.json"
#: The app's web chat page; ``GET /`` on the local host redirects to it.
HOME_ROUTE = "ui"

#: ``catalog.products.load_products``: writes products, skipping those stored with the same content.
LoadProducts = Callable[[Services, list[dict[str, Any]]], Awaitable[Any]]


def default_load_products() -> LoadProducts:
    """``catalog.products.load_products`` over the services' catalog."""
    # Imported on use: `search` and `load` over HTTP need none of the catalog's write path.
    from catalog.products import load_products

    async def load(services: Services, products: list[dict[str, Any]]) -> Any:
        return await load_products(await services.catalog(), products)

    return load


async def load_sample_catalog(services: Services, path: Path, load_products: LoadProducts, out: TextIO) -> None:
    """Write the sample products into an empty store; a store holding products (deleted ones too) keeps them as
    they are, so a restart never reverts the user's edits or brings back what they deleted."""
    if not path.is_file():
        print(f"sample catalog not loaded: {path} does not exist", file=out)
        return
    stored = await (await services.products()).count()
    if stored:
        print(f"sample catalog: store already has {stored} products, not loaded", file=out, flush=True)
        return
    products = json.loads(path.read_text(encoding="utf-8"))
    report = await load_products(services, products)
    print(
        f"sample catalog: {len(products)} products ({report.written} written, {report.unchanged} unchanged)",
        file=out,
        flush=True,
    )


def _print_banner(host: LocalFunctionsHost, app_name: str, out: TextIO) -> None:
    lines = [f"Functions host for {app_name} on {host.base_url}", ""]
    if host.http_routes:
        lines += ["HTTP functions:", *(f"  {line}" for line in host.describe_routes()), ""]
    if host.triggers:
        lines += ["Cosmos DB triggers:", *(f"  {trigger.describe()}" for trigger in host.triggers), ""]
    if host.timers:
        lines += ["Timer triggers:", *(f"  {timer.describe()}" for timer in host.timers), ""]
    if host.skipped_functions:
        skipped = ", ".join(f"{name} ({kind})" for name, kind in host.skipped_functions)
        lines += [f"Not run by this host: {skipped}", ""]
    if host.home_path:
        lines.append(f"Web chat: {host.base_url}/  (redirects to {host.home_path})")
    lines.append("Press Ctrl+C to stop.")
    print("\n".join(lines), file=out, flush=True)


async def serve(
    app: Any = "function_app",
    *,
    host: str = DEFAULT_HOST,
    port: int = 7071,
    load_sample: bool = False,
    sample_path: Path = SAMPLE_PRODUCTS,
    services: Services | None = None,
    load_products: LoadProducts | None = None,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    on_ready: Callable[[LocalFunctionsHost], None] | None = None,
    out: TextIO = sys.stdout,
    admin_key: str | None = None,
) -> int:
    """Run the app until ``stop`` is set (or SIGINT/SIGTERM arrives); return the exit code.

    Args:
        app: the ``FunctionApp`` or the module defining it.
        host: the address to listen on.
        port: the port (0: any free port).
        load_sample: write ``sample_path`` into the store before the triggers start, if it holds no
            products yet.
        sample_path: the JSON list of sample products.
        services: the services to use; default the process-wide ones.
        load_products: the product loader; default ``catalog.products.load_products``.
        stop: set it to stop the host; default an event set by SIGINT/SIGTERM.
        handle_signals: install SIGINT/SIGTERM handlers that set ``stop``.
        on_ready: called with the host once it listens (tests use it to reach the host).
        out: where the banner goes.
    """
    stop = stop or asyncio.Event()
    if handle_signals:
        # Installed before anything is printed, so a signal right after the banner already stops cleanly.
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stop.set)
            except (NotImplementedError, RuntimeError):
                pass  # Windows: Ctrl+C arrives as KeyboardInterrupt, handled in main()
    # Services we fetch here (or the host fetches for its triggers) are ours to close; injected ones are not.
    owns_services = services is None
    local_host: LocalFunctionsHost | None = None
    try:
        local_host = LocalFunctionsHost(
            app, services=services, host=host, port=port, home_route=HOME_ROUTE, admin_key=admin_key
        )
        if services is None and (load_sample or local_host.needs_store):
            services = await get_services()  # the process-wide ones: the host's triggers and handlers use them too
        if services is not None:
            await open_store(services)
        if load_sample and services is not None:
            await load_sample_catalog(services, sample_path, load_products or default_load_products(), out)
        if stop.is_set():
            return 0  # interrupted while loading
        try:
            await local_host.start()
        except OSError as error:
            return fail(
                f"cannot listen on {host}:{port} ({error.strerror or error}); is a host already running? "
                "choose another --port"
            )
        _print_banner(local_host, app if isinstance(app, str) else "the app", out)
        if on_ready is not None:
            on_ready(local_host)
        await stop.wait()
        print("stopping...", file=out, flush=True)
        return 0
    except HostError as error:
        return fail(str(error))
    except Exception as error:
        message = user_error_message(error)
        if message is None:
            raise
        return fail(message, EXIT_CONFIG)
    finally:
        used = services
        if local_host is not None:
            await local_host.stop()
            used = local_host.services or services
        if owns_services and used is not None:
            await used.close()


def remote_refusal(host: str, allow_remote: bool) -> str | None:
    """Why ``run`` refuses to listen on ``host``; prints the warning when it is allowed to."""
    if is_loopback(host):
        return None
    if not allow_remote:
        return (
            f"--host {host} would let other machines read and change the catalog; pass --allow-remote to accept "
            f"that, or listen on {DEFAULT_HOST}"
        )
    print(
        f"warning: listening on {host}: anyone who can reach this machine can search and chat; writing the "
        "catalog needs the host key printed below",
        file=sys.stderr,
    )
    return None


def remote_admin_key(host: str) -> str | None:
    """On an address other machines reach, the key that key-protected (operator) routes require: DEVHOST_ADMIN_KEY,
    or a random one printed once. ``None`` on loopback, where only this machine's user can connect."""
    if is_loopback(host):
        return None
    key = os.environ.get("DEVHOST_ADMIN_KEY") or secrets.token_urlsafe(24)
    print(f"operator routes (product writes, embeddings) need the header x-functions-key: {key}", file=sys.stderr)
    return key


def command_run(args: argparse.Namespace) -> int:
    app_dir = Path.cwd()
    refused = remote_refusal(args.host, args.allow_remote)
    if refused is not None:
        return fail(refused, EXIT_CONFIG)
    local = prepare_settings(app_dir)
    if isinstance(local, int):
        return local
    # The local host reconciles embeddings as it starts (what changed while it was down), unless told otherwise.
    os.environ.setdefault("RECONCILE_ON_STARTUP", "true")
    try:
        # func start takes its default port from local.settings.json Host.LocalHttpPort.
        port = args.port if args.port is not None else run_port(local)
    except StartupError as error:
        return fail(str(error), EXIT_CONFIG)
    # The console script does not put the working directory on sys.path; python -m does. Import like func would.
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    try:
        admin_key = remote_admin_key(args.host)
        return asyncio.run(
            serve(args.app, host=args.host, port=port, load_sample=args.load_sample, admin_key=admin_key)
        )
    except KeyboardInterrupt:
        return 0
    except Exception as error:
        # e.g. settings that parse but name a backend this build cannot make, met while building the services.
        message = user_error_message(error)
        if message is None:
            raise
        return fail(message, EXIT_CONFIG)


def add_run_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """``run``, under the ``catalog`` parser's sub-commands."""
    run = commands.add_parser(
        "run",
        parents=[common],
        help="run function_app.py's HTTP and Cosmos DB trigger functions locally",
        description="Run the app's HTTP functions and change-feed triggers on a local host, like `func start`. "
        "Reads local.settings.json Values from the working directory for settings not already in the environment.",
    )
    run.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s)")
    run.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other machines can reach (the host has no authentication)",
    )
    run.add_argument(
        "--port", type=int, default=None, help="port; 0 picks a free one (default: $PORT, Host.LocalHttpPort or 7071)"
    )
    run.add_argument("--app", default="function_app", help="module defining the FunctionApp (default: %(default)s)")
    run.add_argument(
        "--load-sample",
        action="store_true",
        help="load devhost/sample_products.json before the triggers start when the store holds no products yet "
        "(a store with products, deleted ones included, is left as it is)",
    )
    run.set_defaults(handler=command_run, log_level=logging.INFO)
