"""Lifespan: the ``lifespan`` context manager and its state, startup/shutdown
handlers, ``app.state``, and failures, driven over raw ASGI and under uvicorn."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import ROOT
from covet import CovetRouter, Request, State, create_asgi_app
from covet.app import CovetASGIApp


class Lifespan:
    """Plays the server's side of the ASGI lifespan protocol."""

    def __init__(self, app: Any, state: dict[str, Any] | None = None) -> None:
        self.app = app
        self.state = state
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def startup(self) -> dict[str, Any]:
        scope: dict[str, Any] = {"type": "lifespan", "asgi": {"version": "3.0"}}
        if self.state is not None:
            scope["state"] = self.state
        self.task = asyncio.create_task(self.app(scope, self.to_app.get, self.from_app.put))
        self.to_app.put_nowait({"type": "lifespan.startup"})
        return await asyncio.wait_for(self.from_app.get(), 5)

    async def shutdown(self) -> dict[str, Any]:
        self.to_app.put_nowait({"type": "lifespan.shutdown"})
        return await asyncio.wait_for(self.from_app.get(), 5)

    async def result(self) -> BaseException | None:
        assert self.task is not None
        try:
            await asyncio.wait_for(self.task, 5)
        except Exception as exc:
            return exc
        return None


async def get(app: Any, path: str, state: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One GET over raw ASGI with the server's copy of the lifespan state."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    if state is not None:
        scope["state"] = dict(state)  # servers copy the lifespan state per request
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], orjson.loads(sent[1]["body"])


async def test_lifespan_state_reaches_request_state() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: CovetASGIApp) -> AsyncIterator[dict[str, Any]]:
        events.append("enter")
        yield {"db": "connection-1"}
        events.append("exit")

    async def handler(request: Request) -> Any:
        request.state.scratch = "per request"  # must not leak into the lifespan state
        return {"db": request.state.db}

    router = CovetRouter()
    router.add_route("/", handler, ["GET"])
    app = create_asgi_app(router=router, lifespan=lifespan)
    server_state: dict[str, Any] = {}
    lifespan_channel = Lifespan(app, server_state)
    assert await lifespan_channel.startup() == {"type": "lifespan.startup.complete"}
    assert server_state == {"db": "connection-1"}
    assert await get(app, "/", server_state) == (200, {"db": "connection-1"})
    assert server_state == {"db": "connection-1"}
    assert events == ["enter"]
    assert await lifespan_channel.shutdown() == {"type": "lifespan.shutdown.complete"}
    assert await lifespan_channel.result() is None
    assert events == ["enter", "exit"]


async def test_handlers_run_in_order_inside_the_lifespan_context() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: CovetASGIApp) -> AsyncIterator[None]:
        events.append("context enter")
        yield
        events.append("context exit")

    async def async_start() -> None:
        events.append("on_startup async")

    def added_start() -> None:
        events.append("add_startup_handler sync")

    app = create_asgi_app(
        lifespan=lifespan,
        on_startup=[async_start],
        on_shutdown=[lambda: events.append("on_shutdown sync")],
    )
    app.add_startup_handler(added_start)
    app.add_shutdown_handler(lambda: events.append("add_shutdown_handler"))
    channel = Lifespan(app, {})
    assert (await channel.startup())["type"] == "lifespan.startup.complete"
    assert (await channel.shutdown())["type"] == "lifespan.shutdown.complete"
    assert await channel.result() is None
    assert events == [
        "context enter",
        "on_startup async",
        "add_startup_handler sync",
        "on_shutdown sync",
        "add_shutdown_handler",
        "context exit",
    ]


async def test_failing_startup_reports_the_message_and_exits_the_context() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: CovetASGIApp) -> AsyncIterator[None]:
        events.append("enter")
        try:
            yield
        finally:
            events.append("cleanup")

    async def broken() -> None:
        raise ConnectionError("cache unreachable")

    app = create_asgi_app(lifespan=lifespan, on_startup=[broken])
    channel = Lifespan(app, {})
    message = await channel.startup()
    assert message["type"] == "lifespan.startup.failed"
    assert "ConnectionError: cache unreachable" in message["message"]
    assert isinstance(await channel.result(), ConnectionError)
    assert events == ["enter", "cleanup"]


async def test_failing_lifespan_context_reports_startup_failed() -> None:
    @asynccontextmanager
    async def lifespan(app: CovetASGIApp) -> AsyncIterator[None]:
        raise RuntimeError("no config file")
        yield  # pragma: no cover

    channel = Lifespan(create_asgi_app(lifespan=lifespan), {})
    message = await channel.startup()
    assert message["type"] == "lifespan.startup.failed"
    assert "no config file" in message["message"]


async def test_all_shutdown_handlers_run_even_if_one_fails(caplog) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: CovetASGIApp) -> AsyncIterator[None]:
        yield
        events.append("context exit")

    async def first() -> None:
        events.append("first")
        raise RuntimeError("first shutdown handler broke")

    def second() -> None:
        events.append("second")
        raise ValueError("second broke too")

    app = create_asgi_app(lifespan=lifespan, on_shutdown=[first, second])
    app.add_shutdown_handler(lambda: events.append("third"))
    channel = Lifespan(app, {})
    await channel.startup()
    message = await channel.shutdown()
    assert message["type"] == "lifespan.shutdown.failed"
    assert "first shutdown handler broke" in message["message"]  # the first error
    assert events == ["first", "second", "third", "context exit"]
    assert isinstance(await channel.result(), RuntimeError)
    logged = [r.exc_info[1] for r in caplog.records if r.name == "covet.asgi" and r.exc_info]
    assert [type(e) for e in logged] == [RuntimeError, ValueError]


async def test_state_without_server_support_fails_startup_clearly() -> None:
    @asynccontextmanager
    async def lifespan(app: CovetASGIApp) -> AsyncIterator[dict[str, Any]]:
        yield {"db": 1}

    channel = Lifespan(create_asgi_app(lifespan=lifespan), state=None)
    message = await channel.startup()
    assert message["type"] == "lifespan.startup.failed"
    assert "server provides no lifespan 'state'" in message["message"]


async def test_lifespan_yielding_a_non_mapping_fails_startup() -> None:
    @asynccontextmanager
    async def lifespan(app: CovetASGIApp) -> AsyncIterator[Any]:
        yield ["not", "a", "mapping"]

    message = await Lifespan(create_asgi_app(lifespan=lifespan), {}).startup()
    assert message["type"] == "lifespan.startup.failed"
    assert "may yield a mapping" in message["message"]


async def test_app_state_is_reachable_from_requests() -> None:
    async def handler(request: Request) -> Any:
        return {"version": request.app.state.version}

    router = CovetRouter()
    router.add_route("/", handler, ["GET"])
    app = create_asgi_app(router=router)
    assert isinstance(app.state, State)
    app.state.version = "1.2.3"
    assert await get(app, "/") == (200, {"version": "1.2.3"})


async def test_startup_and_shutdown_can_be_called_directly() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: CovetASGIApp) -> AsyncIterator[dict[str, Any]]:
        events.append("enter")
        yield {"k": "v"}
        events.append("exit")

    app = create_asgi_app(lifespan=lifespan)
    state: dict[str, Any] = {}
    await app.startup(state)
    assert state == {"k": "v"}
    with pytest.raises(RuntimeError, match="before shutdown"):
        await app.startup({})
    await app.shutdown()
    await app.shutdown()  # a second shutdown has nothing left to exit
    assert events == ["enter", "exit"]


async def test_disabled_lifespan_tells_the_server_it_is_unsupported() -> None:
    app = create_asgi_app(enable_lifespan=False, on_startup=[lambda: 1 / 0])
    with pytest.raises(RuntimeError, match="lifespan is disabled"):
        await app({"type": "lifespan"}, asyncio.Queue().get, asyncio.Queue().put)


async def test_out_of_order_lifespan_message_is_an_error() -> None:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    queue.put_nowait({"type": "lifespan.shutdown"})
    with pytest.raises(RuntimeError, match=r"expected ASGI 'lifespan\.startup'"):
        await create_asgi_app()({"type": "lifespan", "state": {}}, queue.get, queue.put)


# -- under uvicorn -----------------------------------------------------------------------
def test_failing_startup_makes_uvicorn_exit_non_zero_with_the_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "apps.lifespan_fail_app:app", "--port", "0"],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "database at db.invalid:5432 refused the connection" in output
    assert "Application startup failed" in output


def test_lifespan_state_and_shutdown_under_uvicorn(serve, tmp_path: Path) -> None:
    log = tmp_path / "lifespan.log"
    server = serve("apps.lifespan_state_app:app", env={"COVET_LIFESPAN_LOG": str(log)})
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/db")
    response = conn.getresponse()
    assert response.status == 200
    assert orjson.loads(response.read()) == {
        "db": {"dsn": "sqlite://memory"},
        "app_started": True,
    }
    conn.close()
    server.stop()
    output = server.process.stdout.read().decode() if server.process.stdout else ""
    assert log.read_text().splitlines() == [
        "lifespan enter",
        "startup handler",
        "failing shutdown handler",
        "last shutdown handler",
        "lifespan exit",
    ]
    assert "shutdown handler broke" in output  # reported by uvicorn (shutdown.failed)
