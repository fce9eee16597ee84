"""Jinja2Templates and TemplateResponse, as Starlette documents them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest

from covet.app import CovetASGIApp
from covet.background import BackgroundTask
from covet.requests import Request
from covet.responses import HTMLResponse
from covet.routing import CovetRouter
from covet.staticfiles import StaticFiles
from covet.templating import Jinja2Templates
from covet.testing import ASGITestClient

PAGES = {
    "index.html": "<h1>Hello {{ name }}</h1><p>{{ request.url.path }}</p>",
    "links.html": (
        "<a href=\"{{ url_for('user', user_id=7) }}\">u</a>"
        "<link href=\"{{ url_for('static', path='/app.css') }}\">"
    ),
    "escape.html": "{{ value }}|{{ value|safe }}",
    "escape.htm": "{{ value }}",
    "escape.xml": "<v>{{ value }}</v>",
    "escape.txt": "{{ value }}",
    "processor.html": "{{ site }} {{ title }}",
}


@pytest.fixture
def template_dir(tmp_path: Path) -> Path:
    for name, text in PAGES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "app.css").write_text("body {}")
    return tmp_path


def make_client(templates: Jinja2Templates, static: Path | None = None, **client: Any):
    router = CovetRouter()

    async def index(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "index.html", {"name": "<Ada>"})

    def links(request: Request) -> HTMLResponse:  # sync handlers render too
        return templates.TemplateResponse(request, "links.html")

    async def user(request: Request) -> str:
        return "user"

    router.add_route("/", index, ["GET"])
    router.add_route("/links", links, ["GET"])
    router.add_route("/users/{user_id:int}", user, ["GET"], name="user")
    if static is not None:
        router.mount("/static", StaticFiles(directory=str(static)), name="static")
    return ASGITestClient(CovetASGIApp(router=router), **client)


def make_request(path: str = "/", **scope: Any) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "query_string": b"",
            "headers": [(b"host", b"example.org")],
            **scope,
        }
    )


async def test_template_response_renders_html_with_the_request_in_context(
    template_dir: Path,
) -> None:
    response = await make_client(Jinja2Templates(directory=template_dir)).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == "<h1>Hello &lt;Ada&gt;</h1><p>/</p>"


def test_response_exposes_template_and_context(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    request = make_request()
    response = templates.TemplateResponse(request, "index.html", {"name": "Ada"})
    assert response.template.name == "index.html"
    assert response.context == {"name": "Ada", "request": request}
    assert isinstance(response, HTMLResponse)
    assert response.body == b"<h1>Hello Ada</h1><p>/</p>"


def test_callers_context_dict_is_not_modified(template_dir: Path) -> None:
    context = {"name": "Ada"}
    Jinja2Templates(directory=template_dir).TemplateResponse(make_request(), "index.html", context)
    assert context == {"name": "Ada"}


async def test_url_for_in_templates_gives_absolute_urls_to_routes_and_mounts(
    template_dir: Path,
) -> None:
    client = make_client(Jinja2Templates(directory=template_dir), static=template_dir / "static")
    response = await client.get("/links")
    assert response.text == (
        '<a href="http://testserver/users/7">u</a><link href="http://testserver/static/app.css">'
    )
    assert (await client.get("/static/app.css")).text == "body {}"


async def test_url_for_in_templates_includes_the_root_path(template_dir: Path) -> None:
    client = make_client(
        Jinja2Templates(directory=template_dir),
        static=template_dir / "static",
        root_path="/prefix",
    )
    response = await client.get("/links")
    assert 'href="http://testserver/prefix/users/7"' in response.text


@pytest.mark.parametrize("name", ["escape.html", "escape.htm", "escape.xml", "escape.txt"])
def test_directory_templates_are_autoescaped(template_dir: Path, name: str) -> None:
    templates = Jinja2Templates(directory=template_dir)
    response = templates.TemplateResponse(make_request(), name, {"value": "<b>&</b>"})
    assert "<b>&</b>" not in response.body.decode().split("|")[0]
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in response.body.decode()


def test_safe_filter_opts_out_of_escaping(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    response = templates.TemplateResponse(make_request(), "escape.html", {"value": "<b>"})
    assert response.body == b"&lt;b&gt;|<b>"


def test_status_code_headers_and_media_type_are_passed_on(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    response = templates.TemplateResponse(
        make_request(),
        "escape.xml",
        {"value": 1},
        status_code=201,
        headers={"x-page": "yes"},
        media_type="application/xml",
    )
    assert response.status_code == 201
    assert response.headers["x-page"] == "yes"
    assert response.headers["content-type"] == "application/xml"


def test_all_keyword_form_with_request(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    request = make_request()
    response = templates.TemplateResponse(
        request=request, name="index.html", context={"name": "kw"}, status_code=202
    )
    assert response.status_code == 202
    assert response.context["request"] is request


def test_legacy_name_first_form_warns_and_still_renders(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    request = make_request()
    with pytest.warns(DeprecationWarning, match="first parameter should be the `Request`"):
        response = templates.TemplateResponse("index.html", {"request": request, "name": "old"})
    assert response.body == b"<h1>Hello old</h1><p>/</p>"
    with pytest.warns(DeprecationWarning):
        response = templates.TemplateResponse(
            name="index.html", context={"request": request, "name": "kw"}, status_code=404
        )
    assert response.status_code == 404


def test_legacy_form_without_request_in_context_is_a_value_error(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match='"request" key'):
        templates.TemplateResponse("index.html", {"name": "x"})


def test_bad_arguments_are_clear_type_errors(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    request = make_request()
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        templates.TemplateResponse(request, "index.html", colour="red")
    with pytest.raises(TypeError, match="missing required argument 'name'"):
        templates.TemplateResponse(request)
    with pytest.raises(TypeError, match="multiple values for argument 'context'"):
        templates.TemplateResponse(request, "index.html", {}, context={})


def test_context_processors_add_to_every_context(template_dir: Path) -> None:
    def site(request: Request) -> dict[str, Any]:
        return {"site": request.url.hostname}

    templates = Jinja2Templates(directory=template_dir, context_processors=[site])
    response = templates.TemplateResponse(make_request(), "processor.html", {"title": "T"})
    assert response.body == b"example.org T"


def test_env_is_used_as_given_and_gets_url_for(template_dir: Path) -> None:
    env = jinja2.Environment(loader=jinja2.DictLoader({"raw.html": "{{ v }}"}))
    templates = Jinja2Templates(env=env)
    assert templates.env is env
    assert "url_for" in env.globals
    # The caller's environment keeps its own autoescape setting (off here).
    response = templates.TemplateResponse(make_request(), "raw.html", {"v": "<i>"})
    assert response.body == b"<i>"


def test_existing_url_for_global_is_kept() -> None:
    env = jinja2.Environment(loader=jinja2.DictLoader({"u.html": "{{ url_for('x') }}"}))
    env.globals["url_for"] = lambda name: f"custom:{name}"
    response = Jinja2Templates(env=env).TemplateResponse(make_request(), "u.html")
    assert response.body == b"custom:x"


def test_directory_list_is_searched_in_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "page.html").write_text("first")
    (second / "page.html").write_text("second")
    (second / "only.html").write_text("only in second")
    templates = Jinja2Templates(directory=[first, second])
    assert templates.TemplateResponse(make_request(), "page.html").body == b"first"
    assert templates.TemplateResponse(make_request(), "only.html").body == b"only in second"


def test_directory_and_env_are_mutually_exclusive(template_dir: Path) -> None:
    with pytest.raises(ValueError, match="either 'directory' or 'env'"):
        Jinja2Templates()
    with pytest.raises(ValueError, match="either 'directory' or 'env'"):
        Jinja2Templates(directory=template_dir, env=jinja2.Environment())


def test_extra_environment_options_are_deprecated_but_applied(template_dir: Path) -> None:
    with pytest.warns(DeprecationWarning, match="Extra environment options"):
        templates = Jinja2Templates(directory=template_dir, autoescape=False)
    response = templates.TemplateResponse(make_request(), "escape.txt", {"value": "<b>"})
    assert response.body == b"<b>"


async def test_missing_template_is_template_not_found_and_a_500_in_an_app(
    template_dir: Path,
) -> None:
    templates = Jinja2Templates(directory=template_dir)
    with pytest.raises(jinja2.TemplateNotFound):
        templates.TemplateResponse(make_request(), "nope.html")

    router = CovetRouter()

    async def broken(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "nope.html")

    router.add_route("/", broken, ["GET"])
    response = await ASGITestClient(CovetASGIApp(router=router)).get("/")
    assert response.status_code == 500


async def test_debug_extension_receives_template_and_context(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    request = make_request()
    response = templates.TemplateResponse(request, "index.html", {"name": "dbg"})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    scope = dict(request.scope, extensions={"http.response.debug": {}})
    await response(scope, receive, send)
    assert [m["type"] for m in sent] == [
        "http.response.debug",
        "http.response.start",
        "http.response.body",
    ]
    assert sent[0]["info"]["template"].name == "index.html"
    assert sent[0]["info"]["context"]["name"] == "dbg"

    sent.clear()
    await response(request.scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


async def test_background_task_runs_after_the_template_is_sent(template_dir: Path) -> None:
    templates = Jinja2Templates(directory=template_dir)
    events: list[str] = []
    router = CovetRouter()

    async def page(request: Request) -> HTMLResponse:
        task = BackgroundTask(events.append, "task ran")
        response = templates.TemplateResponse(
            request, "index.html", {"name": "bg"}, background=task
        )
        assert response.background is task
        events.append("handler returned")
        return response

    router.add_route("/", page, ["GET"])
    response = await ASGITestClient(CovetASGIApp(router=router)).get("/")
    assert response.text == "<h1>Hello bg</h1><p>/</p>"
    assert events == ["handler returned", "task ran"]


def test_missing_jinja2_names_the_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['jinja2'] = None\n"
        "try:\n"
        "    import covet.templating\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "covetpy[templates]" in result.stdout
