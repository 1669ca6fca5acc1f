"""Calling a user function the way the Python worker does: by binding name, async on the loop, sync in a thread."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.functions as func
from azure.functions import _abc

#: The parameter name the Python worker fills with the invocation context.
CONTEXT_PARAMETER = "context"


class _RpcException(_abc.RpcException):
    def __init__(self, error: BaseException | None) -> None:
        self._error = error

    @property
    def source(self) -> str:
        return type(self._error).__module__ if self._error else ""

    @property
    def stack_trace(self) -> str:
        return "".join(traceback.format_exception(self._error)) if self._error else ""

    @property
    def message(self) -> str:
        return str(self._error) if self._error else ""


class _RetryContext(_abc.RetryContext):
    def __init__(self, retry_count: int, max_retry_count: int, error: BaseException | None) -> None:
        self._retry_count = retry_count
        self._max_retry_count = max_retry_count
        self._error = error

    @property
    def retry_count(self) -> int:
        return self._retry_count

    @property
    def max_retry_count(self) -> int:
        return self._max_retry_count

    @property
    def exception(self) -> _abc.RpcException:
        return _RpcException(self._error)


class _TraceContext(_abc.TraceContext):
    def __init__(self, invocation_id: str) -> None:
        # A W3C traceparent, so code that logs or forwards it sees the shape it gets in Azure.
        self._trace_parent = f"00-{uuid.uuid4().hex}-{invocation_id.replace('-', '')[:16]}-01"

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class LocalContext(func.Context):
    """The ``context`` argument of one invocation (``func.Context``), as the Python worker passes it.

    Args:
        function_name: the function's name.
        function_directory: the app folder.
        retry_count: retries of this input so far (0 on the first attempt).
        max_retry_count: the retry policy's limit (0 without a policy, -1 forever).
        last_error: the exception of the previous attempt, when retrying.
    """

    def __init__(
        self,
        function_name: str,
        function_directory: str,
        *,
        retry_count: int = 0,
        max_retry_count: int = 0,
        last_error: BaseException | None = None,
    ) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._retry = _RetryContext(retry_count, max_retry_count, last_error)
        self._trace = _TraceContext(self._invocation_id)
        self._local = threading.local

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> type[threading.local]:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> _abc.TraceContext:
        return self._trace

    @property
    def retry_context(self) -> _abc.RetryContext:
        return self._retry


class FunctionInvoker:
    """Calls one user function with its trigger argument (and ``context`` when it asks for one).

    Coroutine functions run on the event loop; plain functions run in ``executor`` so a blocking handler cannot
    stall other requests, as the Python worker's thread pool does.

    Args:
        name: the function's name.
        user_function: ``fn.get_user_function()``.
        argument_name: the trigger binding's ``name`` (the parameter that receives the trigger input).
        executor: the thread pool for synchronous functions (``None``: the loop's default executor).
        function_directory: reported as ``context.function_directory``.
    """

    def __init__(
        self,
        name: str,
        user_function: Callable[..., Any],
        argument_name: str,
        executor: ThreadPoolExecutor | None,
        function_directory: str,
    ) -> None:
        self.name = name
        self.user_function = user_function
        self.argument_name = argument_name
        self.executor = executor
        self.function_directory = function_directory
        parameters = inspect.signature(user_function).parameters
        self.wants_context = CONTEXT_PARAMETER in parameters and argument_name != CONTEXT_PARAMETER
        #: Parameters the local host cannot fill (other input/output bindings); reported at start-up.
        self.unfilled_parameters = [
            parameter.name
            for parameter in parameters.values()
            if parameter.name not in {argument_name, CONTEXT_PARAMETER}
            and parameter.default is inspect.Parameter.empty
            and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        ]
        self.is_async = inspect.iscoroutinefunction(user_function)

    async def invoke(
        self,
        argument: Any,
        *,
        retry_count: int = 0,
        max_retry_count: int = 0,
        last_error: BaseException | None = None,
    ) -> Any:
        """Call the function and return what it returned (awaiting it when it is a coroutine)."""
        kwargs: dict[str, Any] = {self.argument_name: argument}
        if self.wants_context:
            kwargs[CONTEXT_PARAMETER] = LocalContext(
                self.name,
                self.function_directory,
                retry_count=retry_count,
                max_retry_count=max_retry_count,
                last_error=last_error,
            )
        if self.is_async:
            return await self.user_function(**kwargs)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self.executor, functools.partial(self.user_function, **kwargs))
        if inspect.isawaitable(result):
            # A sync wrapper around a coroutine function (e.g. a decorator without functools.wraps on async).
            result = await result
        return result
