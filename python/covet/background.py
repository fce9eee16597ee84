"""Work that runs after the response has been sent.

``Response(..., background=task)`` on any response class; the task runs once the
last byte is handed to the server, so the client is not kept waiting::

    async def signup(request):
        tasks = BackgroundTasks()
        tasks.add_task(send_welcome_email, to=address)   # sync: runs in a thread
        tasks.add_task(audit_log, "signup", address)       # async: awaited
        return JSONResponse({"ok": True}, background=tasks)

Tasks run in the order added. An exception in one is logged (``covet.background``)
and does not stop the others; the response has already been sent either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from covet.concurrency import is_async_callable, run_in_threadpool

logger = logging.getLogger("covet.background")

__all__ = ["BackgroundTask", "BackgroundTasks"]


class BackgroundTask:
    """One call, ``func(*args, **kwargs)``, run after the response."""

    __slots__ = ("args", "func", "is_async", "kwargs")

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.is_async = is_async_callable(func)

    async def __call__(self) -> None:
        if self.is_async:
            await self.func(*self.args, **self.kwargs)
        else:
            await run_in_threadpool(self.func, *self.args, **self.kwargs)

    def __repr__(self) -> str:
        return f"BackgroundTask({getattr(self.func, '__qualname__', self.func)!r})"


class BackgroundTasks(BackgroundTask):
    """An ordered list of background tasks, itself usable as one."""

    __slots__ = ("tasks",)

    def __init__(self, tasks: list[BackgroundTask] | None = None) -> None:
        self.tasks = list(tasks or ())

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.tasks.append(BackgroundTask(func, *args, **kwargs))

    async def __call__(self) -> None:
        for task in self.tasks:
            await run_task(task)

    def __repr__(self) -> str:
        return f"BackgroundTasks({self.tasks!r})"


async def run_task(task: BackgroundTask) -> None:
    """Runs ``task``; an exception is logged, never raised: the response it follows
    has been sent already."""
    try:
        await task()
    except Exception:
        logger.exception("background task %r failed", task)
