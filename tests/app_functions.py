"""The real app's functions, read once per test process (``get_functions()`` may run once per app instance)."""

from __future__ import annotations

import functools

from azure.functions.decorators.function_app import Function

import function_app


@functools.cache
def app_functions() -> list[Function]:
    return list(function_app.app.get_functions())
