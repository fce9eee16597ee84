"""StaticFiles: serving, html mode, methods, and one regression test per path
traversal vector."""

from __future__ import annotations

import asyncio
import http.client
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from covet.app import create_asgi_app
from covet.routing import CovetRouter
from covet.staticfiles import StaticFiles
from covet.testing import ASGITestClient


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """tmp/static (served), tmp/static-secret and tmp/secret.txt (must stay hidden)."""
    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    (static / "docs").mkdir()
    (static / "empty-dir").mkdir()
    (static / "hello.txt").write_text("hello")
    (static / "css" / "app.css").write_text("body{}")
    (static / "index.html").write_text("<h1>home</h1>")
    (static / "docs" / "index.html").write_text("<h1>docs</h1>")
    (static / "%2e%2e").write_text("a file literally named %2e%2e")
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    (tmp_path / "static-secret").mkdir()
    (tmp_path / "static-secret" / "keys.txt").write_text("SIBLING SECRET")
    return static


async def get(
    app: Any, raw_path: bytes, method: str = "GET", root_path: str = "", headers: Any = None
) -> tuple[int, dict[str, str], bytes]:
    """Sends a request with exactly this raw path (and its decoded ``path``), as a
    server that does not normalise paths would."""
    messages: list[dict[str, Any]] = []

    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # a server blocks until the client leaves
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": unquote(raw_path.decode("latin-1"), errors="surrogateescape"),
        "raw_path": raw_path,
        "root_path": root_path,
        "query_string": b"",
        "headers": headers or [],
    }
    await app(scope, receive, send)
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


def mounted(static: Path, **kwargs: Any) -> Any:
    router = CovetRouter()
    router.mount("/static", StaticFiles(directory=static, **kwargs), name="static")
    return create_asgi_app(router)


# -- serving -------------------------------------------------------------------------------
async def test_serves_files_with_media_types_and_validators(site: Path) -> None:
    client = ASGITestClient(mounted(site))
    response = await client.get("/static/css/app.css")
    assert response.status_code == 200
    assert response.content == b"body{}"
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["content-length"] == "6"
    assert "etag" in response.headers and "last-modified" in response.headers


async def test_conditional_and_range_requests_work_on_static_files(site: Path) -> None:
    client = ASGITestClient(mounted(site))
    etag = (await client.get("/static/hello.txt")).headers["etag"]
    response = await client.get("/static/hello.txt", headers={"if-none-match": etag})
    assert response.status_code == 304
    response = await client.get("/static/hello.txt", headers={"range": "bytes=1-3"})
    assert (response.status_code, response.content) == (206, b"ell")


async def test_head_is_allowed_and_has_no_body(site: Path) -> None:
    response = await ASGITestClient(mounted(site)).head("/static/hello.txt")
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["content-length"] == "5"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405_with_allow(site: Path, method: str) -> None:
    response = await ASGITestClient(mounted(site)).request(method, "/static/hello.txt")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_missing_file_is_404(site: Path) -> None:
    response = await ASGITestClient(mounted(site)).get("/static/nope.txt")
    assert response.status_code == 404


async def test_directory_without_html_mode_is_404(site: Path) -> None:
    client = ASGITestClient(mounted(site))
    assert (await client.get("/static/docs/")).status_code == 404
    assert (await client.get("/static/docs")).status_code == 404


async def test_html_mode_serves_index_and_redirects_to_the_slash(site: Path) -> None:
    client = ASGITestClient(mounted(site, html=True))
    response = await client.get("/static/docs/")
    assert (response.status_code, response.content) == (200, b"<h1>docs</h1>")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    response = await client.get("/static/docs")
    assert (response.status_code, response.headers["location"]) == (307, "/static/docs/")
    response = await client.get("/static/")
    assert response.content == b"<h1>home</h1>"
    # The mount point without its slash is redirected by the router.
    response = await client.get("/static")
    assert (response.status_code, response.headers["location"]) == (307, "/static/")


async def test_html_mode_directory_without_index_is_404(site: Path) -> None:
    response = await ASGITestClient(mounted(site, html=True)).get("/static/empty-dir/")
    assert response.status_code == 404


async def test_html_mode_serves_404_page_when_present(site: Path) -> None:
    (site / "404.html").write_text("<h1>lost</h1>")
    response = await ASGITestClient(mounted(site, html=True)).get("/static/missing")
    assert (response.status_code, response.content) == (404, b"<h1>lost</h1>")


def test_check_dir_raises_for_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        StaticFiles(directory=tmp_path / "nope")
    app = StaticFiles(directory=tmp_path / "nope", check_dir=False)
    assert app.directory.endswith("nope")


async def test_standalone_app_honours_root_path(site: Path) -> None:
    app = StaticFiles(directory=site)
    status, _, body = await get(app, b"/assets/hello.txt", root_path="/assets")
    assert (status, body) == (200, b"hello")


# -- path traversal: one test per vector ----------------------------------------------------
async def test_dot_dot_segments_cannot_escape_the_directory(site: Path) -> None:
    app = StaticFiles(directory=site)
    for raw in (b"/../secret.txt", b"/css/../../secret.txt", b"/css/.."):
        status, _, body = await get(app, raw)
        assert status == 404 and b"SECRET" not in body


async def test_percent_encoded_dot_dot_cannot_escape_the_directory(site: Path) -> None:
    client = ASGITestClient(mounted(site))
    for url in (
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E/secret.txt",
        "/static/.%2e/secret.txt",
    ):
        response = await client.get(url)
        assert response.status_code == 404 and b"SECRET" not in response.content


async def test_percent_encoded_slash_cannot_smuggle_dot_dot(site: Path) -> None:
    client = ASGITestClient(mounted(site))
    for url in ("/static/..%2fsecret.txt", "/static/css%2f..%2f..%2fsecret.txt"):
        response = await client.get(url)
        assert response.status_code == 404 and b"SECRET" not in response.content


async def test_double_encoding_is_not_decoded_twice(site: Path) -> None:
    response = await ASGITestClient(mounted(site)).get("/static/%252e%252e")
    # Served as the file literally named "%2e%2e", never as "..".
    assert (response.status_code, response.content) == (200, b"a file literally named %2e%2e")
    response = await ASGITestClient(mounted(site)).get("/static/%252e%252e/secret.txt")
    assert response.status_code == 404


async def test_backslashes_cannot_be_used_as_separators(site: Path) -> None:
    app = StaticFiles(directory=site)
    for raw in (b"/..\\secret.txt", b"/css\\..\\..\\secret.txt", b"/%5c..%5csecret.txt"):
        status, _, body = await get(app, raw)
        assert status == 404 and b"SECRET" not in body


async def test_absolute_paths_stay_inside_the_directory(site: Path, tmp_path: Path) -> None:
    app = StaticFiles(directory=site)
    for raw in (b"//etc/passwd", str(tmp_path / "secret.txt").encode(), b"/%2fetc%2fpasswd"):
        status, _, body = await get(app, raw)
        assert status == 404 and b"SECRET" not in body and b"root:" not in body


async def test_nul_bytes_are_rejected_without_a_crash(site: Path) -> None:
    app = StaticFiles(directory=site)
    for raw in (b"/hello.txt%00.png", b"/hello.txt\x00"):
        status, _, _ = await get(app, raw)
        assert status == 404


async def test_sibling_directory_with_the_same_prefix_is_not_inside(site: Path) -> None:
    # A symlink resolving into /tmp/.../static-secret: a string prefix test against
    # /tmp/.../static would accept it; the component-wise containment check does not.
    (site / "keys.txt").symlink_to(site.parent / "static-secret" / "keys.txt")
    status, _, body = await get(StaticFiles(directory=site), b"/keys.txt")
    assert status == 404 and b"SIBLING" not in body


async def test_symlinks_escaping_the_directory_are_not_followed_by_default(site: Path) -> None:
    (site / "leak.txt").symlink_to(site.parent / "secret.txt")
    (site / "leakdir").symlink_to(site.parent, target_is_directory=True)
    app = StaticFiles(directory=site)
    for raw in (b"/leak.txt", b"/leakdir/secret.txt"):
        status, _, body = await get(app, raw)
        assert status == 404 and b"SECRET" not in body


async def test_follow_symlinks_serves_links_pointing_outside(site: Path) -> None:
    (site / "shared.txt").symlink_to(site.parent / "secret.txt")
    app = StaticFiles(directory=site, follow_symlinks=True)
    status, _, body = await get(app, b"/shared.txt")
    assert (status, body) == (200, b"TOP SECRET")
    # Following links does not allow `..` out of the directory.
    status, _, _ = await get(app, b"/../secret.txt")
    assert status == 404


async def test_symlinks_inside_the_directory_are_served(site: Path) -> None:
    (site / "alias.txt").symlink_to(site / "hello.txt")
    status, _, body = await get(StaticFiles(directory=site), b"/alias.txt")
    assert (status, body) == (200, b"hello")


async def test_symlinked_root_directory_is_served(site: Path, tmp_path: Path) -> None:
    link = tmp_path / "link-to-static"
    link.symlink_to(site, target_is_directory=True)
    status, _, body = await get(StaticFiles(directory=link), b"/hello.txt")
    assert (status, body) == (200, b"hello")


# -- over real HTTP --------------------------------------------------------------------------
def test_static_files_over_real_http(serve: Any, site: Path) -> None:
    server = serve("apps.responses_app:app", env={"COVET_TEST_STATIC_DIR": str(site)})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/static/css/app.css")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"body{}")
        assert response.getheader("content-type") == "text/css; charset=utf-8"

        for path in (
            "/static/../secret.txt",
            "/static/%2e%2e/secret.txt",
            "/static/..%2fsecret.txt",
        ):
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            assert response.status == 404, path
            assert b"SECRET" not in body

        conn.request("POST", "/static/hello.txt", body=b"x")
        response = conn.getresponse()
        response.read()
        assert response.status == 405
    finally:
        conn.close()


async def test_static_files_range_cap_is_a_setting(site: Path) -> None:
    app = StaticFiles(directory=site, max_ranges=1)
    headers = [(b"range", b"bytes=0-0,2-2")]
    status, _, body = await get(app, b"/hello.txt", headers=headers)
    assert (status, body) == (200, b"hello")
    status, _, body = await get(StaticFiles(directory=site), b"/hello.txt", headers=headers)
    assert status == 206
    assert b"content-range: bytes 0-0/5\r\n\r\nh" in body
    assert b"content-range: bytes 2-2/5\r\n\r\nl" in body
