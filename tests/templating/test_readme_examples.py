"""The README's "Sessions and authentication" and "Templates" examples, run as
written: each ```python block under a ``<!-- tested: <this file> -->`` marker is
executed in order in one namespace, with the ```html block as templates/home.html."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from covet.testing import ASGITestClient

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- tested: tests/templating/test_readme_examples.py -->"


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def marked_python_blocks(section: str) -> list[str]:
    pattern = re.escape(MARKER) + r"\s*```python\n(.*?)```"
    return re.findall(pattern, section, re.DOTALL)


@pytest.fixture
def readme_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    auth_blocks = marked_python_blocks(readme_section("Sessions and authentication"))
    templates_section = readme_section("Templates")
    template_blocks = marked_python_blocks(templates_section)
    assert len(auth_blocks) == 1 and len(template_blocks) == 1
    (html,) = re.findall(
        r"```html\n<!-- templates/home.html -->\n(.*?)```", templates_section, re.S
    )
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "home.html").write_text(html)
    monkeypatch.chdir(tmp_path)  # the example says directory="templates"
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    for block in (*auth_blocks, *template_blocks):
        exec(compile(block, "README.md", "exec"), namespace)
    return namespace["app"]


async def test_readme_login_me_logout_cycle(readme_app: Any) -> None:
    client = ASGITestClient(readme_app)
    assert (await client.get("/me")).status_code == 403

    response = await client.post("/login", data={"username": "ada"})
    assert response.json() == {"logged_in": "ada"}
    assert "session" in client.cookies

    response = await client.get("/me")
    assert response.json() == {"username": "ada", "scopes": ["authenticated"]}

    response = await client.post("/logout")
    assert response.json() == {"logged_in": None}
    assert "session" not in client.cookies
    assert (await client.get("/me")).status_code == 403


async def test_readme_template_greets_the_session_user_with_an_absolute_link(
    readme_app: Any,
) -> None:
    client = ASGITestClient(readme_app)
    response = await client.get("/")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Welcome, stranger</h1>" in response.text
    assert '<a href="http://testserver/">home</a>' in response.text

    await client.post("/login", data={"username": "<ada>"})
    response = await client.get("/")
    assert "<h1>Welcome, &lt;ada&gt;</h1>" in response.text  # autoescaped
