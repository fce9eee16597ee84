"""``MiddlewareStack``: an ordered list of ASGI middleware, built once around an app.

Order: the first middleware added is the OUTERMOST one (it sees the request first
and the response last), like Starlette's ``middleware=[...]`` list::

    stack = MiddlewareStack()
    stack.add(TrustedHostMiddleware, allowed_hosts=["example.com"])  # outermost
    stack.add(CORSMiddleware, allow_origins=["https://app.example.com"])
    stack.add(GZipMiddleware)                                        # innermost
    app = CovetASGIApp(router=router, middleware_stack=stack)

A middleware is anything called as ``factory(app, *args, **options)`` that returns an
ASGI app: a pure ASGI middleware class (``__init__(self, app, **options)`` plus
``async __call__(self, scope, receive, send)``) or a plain function ``app -> app``.
``build(app)`` instantiates them once, at application construction; nothing is
rebuilt per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from covet.middleware._asgi import ASGIApp

MiddlewareFactory = Callable[..., ASGIApp]


class Middleware:
    """One entry of a stack: a middleware class or factory and its options."""

    __slots__ = ("args", "factory", "kwargs")

    def __init__(self, factory: MiddlewareFactory, *args: Any, **kwargs: Any) -> None:
        if not callable(factory):
            raise TypeError(
                f"middleware must be a class or a callable taking the app, got {factory!r}"
            )
        self.factory = factory
        self.args = args
        self.kwargs = kwargs

    @property
    def cls(self) -> MiddlewareFactory:
        return self.factory

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """Instantiate this middleware around ``app``."""
        wrapped = self.factory(app, *self.args, **self.kwargs)
        if not callable(wrapped):
            raise TypeError(f"middleware {self!r} returned {wrapped!r}, which is not an ASGI app")
        return wrapped

    def __iter__(self) -> Iterator[Any]:
        return iter((self.factory, self.args, self.kwargs))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Middleware):
            return NotImplemented
        return tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        name = getattr(self.factory, "__qualname__", repr(self.factory))
        options = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"Middleware({', '.join([name, *options])})"


class MiddlewareStack:
    """An ordered middleware list; the first entry is the outermost layer."""

    def __init__(self, middleware: Iterable[Middleware | MiddlewareFactory] | None = None) -> None:
        self._entries: list[Middleware] = []
        self._built = False
        for entry in middleware or ():
            self.add(entry)

    def add(
        self, middleware: Middleware | MiddlewareFactory, *args: Any, **options: Any
    ) -> MiddlewareStack:
        """Append a middleware (innermost so far). Returns the stack, for chaining.

        ``middleware`` is a class or factory called as ``middleware(app, *args,
        **options)``, or a ready ``Middleware(cls, **options)`` entry.
        """
        if self._built:
            raise RuntimeError(
                "this MiddlewareStack is already built into an app; add middleware "
                "before creating the CovetASGIApp"
            )
        if isinstance(middleware, Middleware):
            if args or options:
                raise TypeError("pass options to Middleware(...) or to add(), not both")
            self._entries.append(middleware)
        else:
            self._entries.append(Middleware(middleware, *args, **options))
        return self

    def build(self, app: ASGIApp) -> ASGIApp:
        """Wrap ``app`` in every middleware, the first added outermost, and return the
        result. Called once by ``CovetASGIApp`` when it is constructed."""
        for entry in reversed(self._entries):
            app = entry.wrap(app)
        self._built = True
        return app

    def __iter__(self) -> Iterator[Middleware]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"MiddlewareStack({self._entries!r})"
