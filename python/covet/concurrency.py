"""Sync code in an async framework: what counts as async, and running the rest in
the event loop's thread pool with the caller's context variables."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["is_async_callable", "run_in_threadpool"]


def is_async_callable(obj: Any) -> bool:
    """Whether calling ``obj`` returns a coroutine (a coroutine function, a partial
    of one, or an object whose ``__call__`` is one)."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    return inspect.iscoroutinefunction(obj) or (
        callable(obj) and inspect.iscoroutinefunction(obj.__call__)
    )


async def run_in_threadpool(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Runs a blocking function in the loop's default executor, keeping contextvars."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    call = functools.partial(context.run, func, *args, **kwargs)
    return await loop.run_in_executor(None, call)
