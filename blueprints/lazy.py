"""Handing a function's input to its implementation, imported on first use.

Importing ``function_app`` registers every function; what the functions *do* (request models, the chat and
retrieval stack, pydantic) is imported by the first invocation that needs it. The Functions host imports the app
before it answers anything, so this keeps that import — the part of a cold start the app controls — small.
"""

from __future__ import annotations

import importlib
from typing import Any

import azure.functions as func


async def dispatch(req: func.HttpRequest, module: str, name: str) -> func.HttpResponse:
    """Run the request handler ``module.name`` through :func:`blueprints.http.handle` (services, error mapping)."""
    from blueprints.http import handle

    response: func.HttpResponse = await handle(req, getattr(importlib.import_module(module), name))
    return response


async def direct(argument: Any, module: str, name: str) -> Any:
    """Call ``module.name(argument)`` as it is (the page, a timer)."""
    return await getattr(importlib.import_module(module), name)(argument)
