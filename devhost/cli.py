"""``catalog`` / ``python -m devhost``: run the app locally, bulk-load products, search from the terminal.

``run`` is the stand-in for ``func start`` where Azure Functions Core Tools is not installed; with Core Tools,
``func start`` runs the same ``function_app.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from composition.services import Services, get_services
from composition.settings import SettingsError, load_settings
from devhost.host import HostError, LocalFunctionsHost, apply_local_settings
from devhost.routes import RouteTemplateError

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:7071"
DEFAULT_PORT = 7071
SAMPLE_PRODUCTS = Path(__file__).with_name("sample_products.json")
START_HINT = "start the host with `make run` (or pass --url)"

#: ``catalog.products.load_products``: writes products, skipping those stored with the same content.
LoadProducts = Callable[[Services, list[dict[str, Any]]], Awaitable[Any]]

# Exit codes: 0 success, 1 a failure while working, 2 a configuration the user must fix (argparse uses 2 too).
EXIT_FAILURE = 1
EXIT_CONFIG = 2


def _default_load_products() -> LoadProducts:
    # Imported on use: `search` and `load` over HTTP need none of the catalog's write path.
    from catalog.products import load_products

    async def load(services: Services, products: list[dict[str, Any]]) -> Any:
        return await load_products(await services.catalog(), products)

    return load


def _fail(message: str, code: int = EXIT_FAILURE) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _configure_logging(verbose: bool, level: int) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not verbose:
        # The Azure SDKs log every HTTP request at INFO.
        logging.getLogger("azure").setLevel(logging.WARNING)


def _prepare_settings(app_dir: Path) -> dict[str, Any] | int:
    """``local.settings.json`` applied and settings validated; an exit code when they are not usable."""
    try:
        local = apply_local_settings(app_dir)
        load_settings()
    except (SettingsError, HostError) as error:
        return _fail(str(error), EXIT_CONFIG)
    return local


# ----------------------------------------------------------------------------------------------------------- run


async def _load_sample(services: Services, path: Path, load_products: LoadProducts, out: TextIO) -> None:
    if not path.is_file():
        print(f"sample catalog not loaded: {path} does not exist", file=out)
        return
    products = json.loads(path.read_text(encoding="utf-8"))
    report = await load_products(services, products)
    print(
        f"sample catalog: {len(products)} products ({report.written} written, {report.unchanged} unchanged)",
        file=out,
        flush=True,
    )


#: The app's web chat page; ``GET /`` on the local host redirects to it.
HOME_ROUTE = "ui"


def _print_banner(host: LocalFunctionsHost, app_name: str, out: TextIO) -> None:
    lines = [f"Functions host for {app_name} on {host.base_url}", ""]
    if host.http_routes:
        lines += ["HTTP functions:", *(f"  {line}" for line in host.describe_routes()), ""]
    if host.triggers:
        lines += ["Cosmos DB triggers:", *(f"  {trigger.describe()}" for trigger in host.triggers), ""]
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
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    load_sample: bool = False,
    sample_path: Path = SAMPLE_PRODUCTS,
    services: Services | None = None,
    load_products: LoadProducts | None = None,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    on_ready: Callable[[LocalFunctionsHost], None] | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Run the app until ``stop`` is set (or SIGINT/SIGTERM arrives); return the exit code.

    Args:
        app: the ``FunctionApp`` or the module defining it.
        host: the address to listen on.
        port: the port (0: any free port).
        load_sample: write ``sample_path`` into the store before the triggers start.
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
        local_host = LocalFunctionsHost(app, services=services, host=host, port=port, home_route=HOME_ROUTE)
        if load_sample:
            services = services or await get_services()
            await _load_sample(services, sample_path, load_products or _default_load_products(), out)
        if stop.is_set():
            return 0  # interrupted while loading
        try:
            await local_host.start()
        except OSError as error:
            return _fail(
                f"cannot listen on {host}:{port} ({error.strerror or error}); is a host already running? "
                "choose another --port"
            )
        _print_banner(local_host, app if isinstance(app, str) else "the app", out)
        if on_ready is not None:
            on_ready(local_host)
        await stop.wait()
        print("stopping...", file=out, flush=True)
        return 0
    except (HostError, RouteTemplateError) as error:
        return _fail(str(error))
    except SettingsError as error:
        return _fail(str(error), EXIT_CONFIG)
    finally:
        used = services
        if local_host is not None:
            await local_host.stop()
            used = local_host.services or services
        if owns_services and used is not None:
            await used.close()


def _command_run(args: argparse.Namespace) -> int:
    app_dir = Path.cwd()
    local = _prepare_settings(app_dir)
    if isinstance(local, int):
        return local
    port = args.port
    if port is None:
        # func start takes its default port from local.settings.json Host.LocalHttpPort.
        port = int((local.get("Host") or {}).get("LocalHttpPort") or DEFAULT_PORT)
    # The console script does not put the working directory on sys.path; python -m does. Import like func would.
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    try:
        return asyncio.run(serve(args.app, host=args.host, port=port, load_sample=args.load_sample))
    except KeyboardInterrupt:
        return 0
    except (SettingsError, NotImplementedError) as error:
        # Settings that parse but name a backend this build cannot make (e.g. STORE_BACKEND=cosmos for now).
        return _fail(str(error), EXIT_CONFIG)


# ---------------------------------------------------------------------------------------------------------- load


def _read_products(path: Path) -> list[dict[str, Any]]:
    """The JSON list of products in ``path``. Raises ``ValueError`` with a one-line reason."""
    try:
        products = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a JSON file ({error})") from None
    if not isinstance(products, list) or not all(isinstance(item, dict) for item in products):
        raise ValueError(f"{path} must hold a JSON list of product objects")
    return products


def _chunks(items: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _progress(total: int) -> Any:
    from tqdm import tqdm

    # disable=None hides the bar when stderr is not a terminal (CI logs, pipes).
    return tqdm(total=total, unit="product", disable=None)


class _Counts:
    def __init__(self) -> None:
        self.sent = 0
        self.written = 0
        self.unchanged = 0
        self.reported = False

    def add(self, sent: int, report: Any) -> None:
        """Count a chunk; ``report`` is a ``LoadReport`` or the bulk API's ``{"created", "updated", "unchanged"}``."""
        self.sent += sent
        if isinstance(report, dict):
            written = report.get("written")
            if written is None and isinstance(report.get("created"), int) and isinstance(report.get("updated"), int):
                written = report["created"] + report["updated"]
            unchanged = report.get("unchanged")
        else:
            written, unchanged = getattr(report, "written", None), getattr(report, "unchanged", None)
        if isinstance(written, int) and isinstance(unchanged, int):
            self.written += written
            self.unchanged += unchanged
            self.reported = True

    def summary(self, where: str) -> str:
        counts = f" ({self.written} written, {self.unchanged} unchanged)" if self.reported else ""
        return f"loaded {self.sent} products into {where}{counts}"


async def load_over_http(url: str, products: list[dict[str, Any]], chunk: int, out: TextIO = sys.stdout) -> int:
    """POST ``products`` to ``{url}/api/products`` in chunks; return the exit code."""
    endpoint = f"{url.rstrip('/')}/api/products"
    counts = _Counts()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        with _progress(len(products)) as bar:
            for part in _chunks(products, chunk):
                try:
                    async with session.post(endpoint, json=part) as response:
                        text = await response.text()
                        status = response.status
                except aiohttp.ClientConnectorError:
                    return _fail(f"cannot reach {url}: {START_HINT}")
                try:
                    payload: Any = json.loads(text) if text else {}
                except json.JSONDecodeError:
                    payload = text
                if status >= 400:
                    shown = json.dumps(payload) if not isinstance(payload, str) else payload[:500]
                    return _fail(f"POST {endpoint} answered {status} after {counts.sent} products were loaded: {shown}")
                counts.add(len(part), payload)
                bar.update(len(part))
    print(counts.summary(endpoint), file=out)
    return 0


async def load_direct(
    products: list[dict[str, Any]],
    chunk: int,
    *,
    services: Services | None = None,
    load_products: LoadProducts | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Write ``products`` straight into the configured store; return the exit code."""
    loader = load_products or _default_load_products()
    own_services = services is None
    services = services or await get_services()
    counts = _Counts()
    try:
        with _progress(len(products)) as bar:
            for part in _chunks(products, chunk):
                counts.add(len(part), await loader(services, part))
                bar.update(len(part))
    finally:
        if own_services:
            await services.close()
    print(counts.summary(f"the {services.settings.STORE_BACKEND} store"), file=out)
    return 0


def _command_load(args: argparse.Namespace) -> int:
    try:
        products = _read_products(Path(args.file))
    except ValueError as error:
        return _fail(str(error))
    if args.direct:
        prepared = _prepare_settings(Path.cwd())
        if isinstance(prepared, int):
            return prepared
        try:
            return asyncio.run(load_direct(products, args.chunk))
        except (SettingsError, NotImplementedError) as error:
            return _fail(str(error), EXIT_CONFIG)
    return asyncio.run(load_over_http(args.url, products, args.chunk))


# -------------------------------------------------------------------------------------------------------- search


def _result_rows(payload: Any) -> list[tuple[str, str, str, str]]:
    """``(score, name, category, price)`` per hit, from ``{"results": [...]}`` or a bare list."""
    results = payload.get("results", []) if isinstance(payload, dict) else payload
    rows = []
    for item in results if isinstance(results, list) else []:
        if not isinstance(item, dict):
            continue
        product = item.get("product") or item.get("document") or item
        score = item.get("score")
        price = product.get("price")
        rows.append(
            (
                f"{score:.3f}" if isinstance(score, int | float) else "",
                str(product.get("name", "")),
                str(product.get("category_name") or product.get("category") or ""),
                f"{price:.2f}" if isinstance(price, int | float) else str(price or ""),
            )
        )
    return rows


def format_results(payload: Any) -> str:
    """The search answer as a small table: rank, score, name, category, price."""
    rows = _result_rows(payload)
    if not rows:
        return "no results"
    table = [("rank", "score", "name", "category", "price")]
    table += [(str(rank), *row) for rank, row in enumerate(rows, start=1)]
    clipped = [tuple(cell if len(cell) <= 48 else cell[:47] + "…" for cell in row) for row in table]
    widths = [max(len(row[column]) for row in clipped) for column in range(5)]
    right = {0, 1, 4}  # numbers line up on the right
    lines = [
        "  ".join(
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in clipped
    ]
    return "\n".join(lines)


async def search_over_http(url: str, params: dict[str, str], out: TextIO = sys.stdout) -> int:
    """GET ``{url}/api/search`` and print the hits; return the exit code."""
    endpoint = f"{url.rstrip('/')}/api/search"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            async with session.get(endpoint, params=params) as response:
                text = await response.text()
                status = response.status
    except aiohttp.ClientConnectorError:
        return _fail(f"cannot reach {url}: {START_HINT}")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        return _fail(f"GET {endpoint} answered {status} with a body that is not JSON: {text[:200]}")
    if status >= 400:
        return _fail(f"GET {endpoint} answered {status}: {json.dumps(payload)}")
    print(format_results(payload), file=out)
    return 0


def _command_search(args: argparse.Namespace) -> int:
    params = {"q": args.query, "k": str(args.k)}
    if args.category:
        params["category"] = args.category
    if args.min_price is not None:
        params["min_price"] = f"{args.min_price:g}"
    if args.max_price is not None:
        params["max_price"] = f"{args.max_price:g}"
    return asyncio.run(search_over_http(args.url, params))


# ---------------------------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """The ``catalog`` argument parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser = argparse.ArgumentParser(
        prog="catalog",
        description="Run the product catalog Functions app locally, load products into it and search it.",
        epilog="With Azure Functions Core Tools installed, `func start` runs the same function_app.py.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        parents=[common],
        help="run function_app.py's HTTP and Cosmos DB trigger functions locally",
        description="Run the app's HTTP functions and change-feed triggers on a local host, like `func start`. "
        "Reads local.settings.json Values from the working directory for settings not already in the environment.",
    )
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    run.add_argument(
        "--port", type=int, default=None, help="port; 0 picks a free one (default: Host.LocalHttpPort or 7071)"
    )
    run.add_argument("--app", default="function_app", help="module defining the FunctionApp (default: %(default)s)")
    run.add_argument(
        "--load-sample",
        action="store_true",
        help="load devhost/sample_products.json into the store before the triggers start (unchanged ones are skipped)",
    )
    run.set_defaults(handler=_command_run, log_level=logging.INFO)

    load = commands.add_parser(
        "load",
        parents=[common],
        help="bulk-load a JSON list of products",
        description="Bulk-load a JSON list of products: POST them in chunks to a running host, or with --direct "
        "write them straight into the configured store (the trigger embeds them when the host next runs).",
    )
    load.add_argument("file", metavar="FILE", help="JSON file holding a list of products")
    load.add_argument("--url", default=DEFAULT_URL, help="base URL of the running host (default: %(default)s)")
    load.add_argument("--direct", action="store_true", help="write into the configured store instead of over HTTP")
    load.add_argument("--chunk", type=_positive_int, default=100, help="products per request (default: %(default)s)")
    load.set_defaults(handler=_command_load, log_level=logging.WARNING)

    search = commands.add_parser(
        "search",
        parents=[common],
        help="search the catalog by meaning",
        description="Search a running host's catalog by meaning and print the best matches.",
    )
    search.add_argument("query", metavar="QUERY", help="what you are looking for, in plain words")
    search.add_argument("--url", default=DEFAULT_URL, help="base URL of the running host (default: %(default)s)")
    search.add_argument("-k", type=_positive_int, default=5, help="how many results (default: %(default)s)")
    search.add_argument("--category", help="only this category_name")
    search.add_argument("--min-price", type=float, help="lowest price")
    search.add_argument("--max-price", type=float, help="highest price")
    search.set_defaults(handler=_command_search, log_level=logging.WARNING)
    return parser


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``catalog`` and ``python -m devhost``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose, args.log_level)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 0
    return code
