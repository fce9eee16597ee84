"""The documentation in docs/ runs: every ```python block is a test case.

- One test per block, named ``docs/<page>.md:<line of the opening fence>``.
- The blocks of one page run in order in one namespace (a block may use what an
  earlier block of the same page defined), in a private working directory, with one
  event loop per page for blocks that use top-level ``await``. Running a single
  block runs the blocks before it first.
- Code is compiled with the page as its file name and its own line numbers, so a
  traceback points at the line of the Markdown file.
- A block preceded by ``<!-- not executed: reason -->`` is only compiled (a syntax
  error still fails) and reported as skipped with that reason.
- ``__name__`` is not ``"__main__"``: ``if __name__ == "__main__": uvicorn.run(app)``
  shows how to run a server without running one.

Besides the snippets: every fence names its language (so a Python block cannot
escape by being tagged ``py``), every relative link and anchor resolves, every
``covet.…`` name quoted in inline code exists, the index links every page, every
figure on the performance page is one the benchmark results record, and the
README's Python blocks (excerpts, not run) compile.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))

#: Fence languages a page may use; only ``python`` is executed.
LANGUAGES = frozenset(
    {"python", "sh", "text", "html", "jinja", "nginx", "dockerfile", "yaml", "ini", "http", "json"}
)
FENCE = re.compile(r"^```(?P<lang>[^`\s]*)\s*$")
NOT_EXECUTED = re.compile(r"^<!--\s*not executed:\s*(?P<reason>.*?)\s*-->$")
MARKER_LIKE = re.compile(r"^<!--\s*not executed\b")


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip_reason: str | None = None

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def parse_blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page``; raises ``ValueError`` for an unclosed fence or a
    ``not executed`` marker without a reason or not followed by a python block."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    pending_marker: tuple[int, str] | None = None
    index = 0
    while index < len(lines):
        text = lines[index].strip()
        marker = NOT_EXECUTED.match(text)
        if MARKER_LIKE.match(text):
            if marker is None or not marker["reason"]:
                raise ValueError(f"{page.name}:{index + 1}: write <!-- not executed: reason -->")
            pending_marker = (index + 1, marker["reason"])
            index += 1
            continue
        fence = FENCE.match(lines[index])
        if fence is None:
            if text and pending_marker is not None:
                raise ValueError(
                    f"{page.name}:{pending_marker[0]}: a 'not executed' marker must come "
                    "right before a ```python block"
                )
            index += 1
            continue
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        if index == len(lines):
            raise ValueError(f"{page.name}:{start + 1}: unclosed code fence")
        lang = fence["lang"]
        reason = pending_marker[1] if pending_marker is not None else None
        if reason is not None and lang != "python":
            raise ValueError(
                f"{page.name}:{pending_marker[0] if pending_marker else 0}: a 'not executed' "
                "marker must come right before a ```python block"
            )
        pending_marker = None
        blocks.append(Block(page, start + 1, lang, "\n".join(body) + "\n", reason))
        index += 1
    return blocks


def python_blocks() -> list[Block]:
    return [block for page in PAGES for block in parse_blocks(page) if block.lang == "python"]


def compile_block(block: Block) -> Any:
    # Leading newlines keep the line numbers of the Markdown file in tracebacks.
    source = "\n" * block.line + block.code
    return compile(
        source,
        str(block.page),
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )


@dataclass
class PageRun:
    """The state of one page's blocks run so far."""

    blocks: list[Block]
    workdir: Path
    namespace: dict[str, Any] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop | None = None
    done: int = 0
    failed: Block | None = None

    def run_through(self, block: Block) -> None:
        """Runs the page's blocks up to and including ``block``, in order."""
        target = self.blocks.index(block)
        while self.done <= target:
            if self.failed is not None:
                pytest.skip(f"an earlier block of this page failed: {self.failed.id}")
            current = self.blocks[self.done]
            self.done += 1
            is_target = self.done > target
            if not is_target and current.skip_reason is not None:
                continue  # compiled and reported by its own test
            try:
                self._run(current)
            except pytest.skip.Exception:
                raise
            except BaseException:
                self.failed = current
                if is_target:
                    raise
                pytest.fail(f"an earlier block of this page failed: {current.id}")

    def _run(self, block: Block) -> None:
        code = compile_block(block)
        if block.skip_reason is not None:
            pytest.skip(f"not executed: {block.skip_reason}")
        previous = Path.cwd()
        os.chdir(self.workdir)
        try:
            if code.co_flags & inspect.CO_COROUTINE:
                if self.loop is None:
                    self.loop = asyncio.new_event_loop()
                self.loop.run_until_complete(eval(code, self.namespace))
            else:
                exec(code, self.namespace)
        finally:
            os.chdir(previous)

    def close(self) -> None:
        if self.loop is not None:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


_RUNS: dict[Path, PageRun] = {}


@pytest.fixture(scope="module")
def page_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Path, PageRun]]:
    yield _RUNS
    for run in _RUNS.values():
        run.close()
    _RUNS.clear()


def _page_run(page: Path, tmp_path_factory: pytest.TempPathFactory) -> PageRun:
    run = _RUNS.get(page)
    if run is None:
        blocks = [b for b in parse_blocks(page) if b.lang == "python"]
        workdir = tmp_path_factory.mktemp(page.stem)
        run = PageRun(blocks, workdir, {"__name__": f"docs_{page.stem.replace('-', '_')}"})
        _RUNS[page] = run
    return run


@pytest.mark.parametrize("block", python_blocks(), ids=lambda block: block.id)
def test_snippet(
    block: Block,
    page_runs: dict[Path, PageRun],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    _page_run(block.page, tmp_path_factory).run_through(block)


# -- the pages themselves -------------------------------------------------------------------
def test_docs_exist_and_index_links_every_page() -> None:
    assert PAGES, "docs/ has no pages"
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w-]+\.md)(?:#[\w-]+)?\)", index))
    missing = sorted(p.name for p in PAGES if p.name != "index.md" and p.name not in linked)
    assert not missing, f"docs/index.md does not link {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fences_are_closed_and_tagged(page: Path) -> None:
    """A block must say its language, and Python must say ``python`` (``py`` or an
    untagged block would silently not run)."""
    for block in parse_blocks(page):
        assert block.lang in LANGUAGES, (
            f"{block.id}: fence language {block.lang!r} is not one of {sorted(LANGUAGES)}"
        )


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation dropped, spaces to -."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and line.startswith("#"):
            found.add(github_slug(line.lstrip("#")))
    return found


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def prose(page: Path) -> str:
    """The page without its code blocks and inline code (links live in prose)."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(page: Path) -> None:
    problems = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z]+:", target):
            continue  # an absolute URL
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            problems.append(f"{target}: {resolved} does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{target}: no heading with anchor #{anchor}")
    assert not problems, f"{page.name}: " + "; ".join(problems)


def resolve_dotted(name: str) -> Any:
    """Imports the longest module prefix of ``name`` and walks the rest as attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(name)


def logger_names() -> set[str]:
    """The loggers the package writes to (``covet.asgi``, ...): names, not modules."""
    found: set[str] = set()
    for source in (ROOT / "python" / "covet").rglob("*.py"):
        found.update(re.findall(r"getLogger\(\"([\w.]+)\"\)", source.read_text(encoding="utf-8")))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_quoted_covet_names_exist(page: Path) -> None:
    """``covet.responses.JSONResponse`` in inline code must be importable: a renamed
    or invented API name fails here."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    names = set(re.findall(r"`(covet(?:\.[A-Za-z_]\w*)+)(?:\(\))?`", text))
    missing = []
    for name in sorted(names - logger_names()):
        try:
            resolve_dotted(name)
        except (ImportError, AttributeError) as exc:
            missing.append(f"{name} ({exc})")
    assert not missing, f"{page.name}: unknown names {missing}"


FIGURE = re.compile(r"(?<![\w.])x?(\d[\d,]*\.\d+|\d{1,3}(?:,\d{3})+)x?(?![\w])")


def figures(text: str) -> set[str]:
    """Decimal figures, ratios and thousands-separated counts (``2.61x``, ``x0.95``,
    ``313.9``, ``2,300``), without their ``x``."""
    return set(FIGURE.findall(text))


def test_performance_figures_come_from_the_benchmark_results() -> None:
    """docs/performance.md may only quote what ``make bench`` recorded (or the README
    quotes with its command): a figure that is not there was invented, or is stale
    after a new run of ``make bench``; update the page from benches/RESULTS.md."""
    page = re.sub(
        r"^```.*?^```", "", (DOCS / "performance.md").read_text(encoding="utf-8"), flags=re.M | re.S
    )
    sources = (ROOT / "benches" / "RESULTS.md").read_text(encoding="utf-8") + (
        ROOT / "README.md"
    ).read_text(encoding="utf-8")
    unknown = sorted(figures(page) - figures(sources))
    assert not unknown, f"docs/performance.md quotes figures found in neither source: {unknown}"


def test_readme_python_blocks_compile() -> None:
    """The README's Python blocks are excerpts (they name objects defined elsewhere),
    so they are not run here; they must at least be valid Python."""
    readme = ROOT / "README.md"
    errors = []
    for block in parse_blocks(readme):
        if block.lang != "python":
            continue
        try:
            compile_block(block)
        except SyntaxError as exc:
            errors.append(f"README.md:{exc.lineno}: {exc.msg}")
    assert not errors, errors
