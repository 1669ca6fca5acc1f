"""The local development host: runs ``function_app.py`` without Azure Functions Core Tools, plus the ``catalog`` CLI.

Where things are:

* :mod:`devhost.metadata` — finding the app and reading what it declares (``app.get_functions()``, ``host.json``,
  ``local.settings.json``);
* :mod:`devhost.routes` and :mod:`devhost.router` — Functions route templates as aiohttp routes, and matching them;
* :mod:`devhost.http_server` with :mod:`devhost.request_guards` and :mod:`devhost.http_responses` — the HTTP side;
* :mod:`devhost.changefeed` and :mod:`devhost.retry` — Cosmos DB triggers driven from the store's change feed;
* :mod:`devhost.invocation` — calling a function the way the Python worker does;
* :mod:`devhost.host` — :class:`LocalFunctionsHost`, which starts and stops all of the above;
* :mod:`devhost.cli` — ``python -m devhost run|load|search`` (the ``catalog`` console script).

None of it is deployed to Azure (``.funcignore``).
"""

from devhost.host import LocalFunctionsHost

__all__ = ["LocalFunctionsHost"]
