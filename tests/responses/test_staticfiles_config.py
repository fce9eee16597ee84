"""StaticFiles with a directory that is missing or not a directory (check_dir=False)
fails loudly on the request, and html mode redirects only to directories with an
index page."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from covet.app import create_asgi_app
from covet.routing import CovetRouter
from covet.staticfiles import StaticFiles
from covet.testing import ASGITestClient


def mounted(directory: Path, **kwargs: Any) -> Any:
    router = CovetRouter()
    router.mount("/static", StaticFiles(directory=directory, **kwargs), name="static")
    return create_asgi_app(router)


async def test_missing_directory_is_a_500_naming_it_not_a_404(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "nope"
    client = ASGITestClient(mounted(missing, check_dir=False))
    with caplog.at_level(logging.ERROR):
        response = await client.get("/static/app.css")
    assert response.status_code == 500
    logged = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.records)
    assert f"StaticFiles directory {str(missing)!r} does not exist." in logged


async def test_file_instead_of_a_directory_is_a_500_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("x")
    client = ASGITestClient(mounted(not_a_dir, check_dir=False))
    with caplog.at_level(logging.ERROR):
        response = await client.get("/static/file.txt")
    assert response.status_code == 500
    logged = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.records)
    assert f"StaticFiles path {str(not_a_dir)!r} is not a directory." in logged


async def test_standalone_static_files_raise_the_runtime_error(tmp_path: Path) -> None:
    app = StaticFiles(directory=tmp_path / "nope", check_dir=False)
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("nothing may be sent")

    with pytest.raises(RuntimeError, match="does not exist"):
        await app(scope, receive, send)


async def test_directory_created_after_start_is_served_once_it_exists(tmp_path: Path) -> None:
    later = tmp_path / "later"
    client = ASGITestClient(mounted(later, check_dir=False), raise_server_exceptions=False)
    assert (await client.get("/static/a.txt")).status_code == 500
    later.mkdir()
    (later / "a.txt").write_text("now")
    response = await client.get("/static/a.txt")
    assert (response.status_code, response.text) == (200, "now")


def test_check_dir_refuses_a_file_at_construction(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("x")
    with pytest.raises(RuntimeError, match="is not a directory"):
        StaticFiles(directory=not_a_dir)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    static = tmp_path / "static"
    (static / "docs").mkdir(parents=True)
    (static / "docs" / "index.html").write_text("<h1>docs</h1>")
    (static / "bare").mkdir()
    (static / "bare" / "notes.txt").write_text("no index here")
    return static


async def test_html_mode_does_not_redirect_a_directory_without_index(site: Path) -> None:
    client = ASGITestClient(mounted(site, html=True))
    response = await client.get("/static/bare", follow_redirects=False)
    assert response.status_code == 404
    assert "location" not in response.headers


async def test_html_mode_redirects_a_directory_with_an_index_to_the_slash(site: Path) -> None:
    client = ASGITestClient(mounted(site, html=True))
    response = await client.get("/static/docs?x=1", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (307, "/static/docs/?x=1")
    response = await client.get("/static/docs/")
    assert (response.status_code, response.text) == (200, "<h1>docs</h1>")


async def test_html_mode_directory_without_index_uses_the_404_page(site: Path) -> None:
    (site / "404.html").write_text("<h1>lost</h1>")
    client = ASGITestClient(mounted(site, html=True))
    response = await client.get("/static/bare", follow_redirects=False)
    assert (response.status_code, response.text) == (404, "<h1>lost</h1>")
