"""The local development host: runs ``function_app.py`` without Azure Functions Core Tools, plus the ``catalog`` CLI."""

from devhost.host import LocalFunctionsHost

__all__ = ["LocalFunctionsHost"]
