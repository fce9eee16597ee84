"""The deployment files are real: gunicorn serves with deploy/gunicorn.conf.py and
stops cleanly on SIGTERM, the Dockerfile's commands build a wheel that installs and
runs in a fresh venv, and docker-compose.yml points at files that exist.

No Docker daemon runs here, so the Dockerfile is checked by parsing it
(dockerfile-parse), linting it (hadolint) and running its build step by hand."""

from __future__ import annotations

import json
import os
import re
import runpy
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gunicorn.config
import psutil
import pytest
import yaml
from dockerfile_parse import DockerfileParser

from servers import die_with_parent

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONF = ROOT / "deploy" / "gunicorn.conf.py"


# -- helpers ---------------------------------------------------------------------------
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stages() -> list[dict[str, Any]]:
    """The Dockerfile's stages: name, base image and instructions, in order."""
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    images = iter(parser.parent_images)  # the FROM images, with ARGs substituted
    found: list[dict[str, Any]] = []
    for item in parser.structure:
        if item["instruction"] == "FROM":
            words = item["value"].split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append({"name": name, "image": next(images), "steps": []})
        elif found and item["instruction"] != "COMMENT":
            found[-1]["steps"].append((item["instruction"], item["value"]))
    return found


def stage(name: str) -> dict[str, Any]:
    return next(s for s in stages() if s["name"] == name)


def steps(name: str, instruction: str) -> list[str]:
    return [value for kind, value in stage(name)["steps"] if kind == instruction]


def builder_commands() -> list[str]:
    """The builder's RUN steps, split at ``&&`` into single commands."""
    return [
        " ".join(command.split())
        for value in steps("builder", "RUN")
        for command in value.split("&&")
    ]


def exec_form(value: str) -> list[str]:
    """A CMD / HEALTHCHECK CMD in exec form, as a list."""
    if value.startswith("CMD"):
        value = value[3:].strip()
    argv = json.loads(value)
    assert isinstance(argv, list), f"{value!r} is not in exec form"
    return argv


def healthcheck_argv() -> list[str]:
    (value,) = steps("runtime", "HEALTHCHECK")
    _options, _, command = value.partition("CMD ")
    return exec_form(command)


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.lower()] = version
    return pins


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as (is_exception, regex), with Docker's matching rules: ``*`` and
    ``?`` stay within one path segment, ``**`` spans any number of them."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        text = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(text):
            if text.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif text.startswith("**", i):
                regex += ".*"
                i += 2
            elif text[i] == "*":
                regex += "[^/]*"
                i += 1
            elif text[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(text[i])
                i += 1
        patterns.append((negate, re.compile(regex)))
    return patterns


def is_ignored(relative: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for negate, regex in patterns:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def copy_context(stage_name: str, destination: Path) -> None:
    """Lays out what the stage's ``COPY`` instructions put in its WORKDIR, taking
    files from the build context as .dockerignore filters it."""
    patterns = dockerignore_patterns()
    for value in steps(stage_name, "COPY"):
        words = shlex.split(value)
        if any(word.startswith("--from") for word in words):
            continue
        *sources, target = words
        for source in sources:
            for path in sorted(ROOT.glob(source)):
                files = [path] if path.is_file() else sorted(p for p in path.rglob("*"))
                for file in files:
                    relative = file.relative_to(ROOT).as_posix()
                    if not file.is_file() or is_ignored(relative, patterns):
                        continue
                    if path.is_dir():  # a directory's contents go into the target
                        out = destination / target / file.relative_to(path)
                    elif target.endswith("/"):
                        out = destination / target / path.name
                    else:
                        out = destination / target
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(file, out)  # keeps mtimes: cargo's cache stays valid


class Gunicorn:
    """gunicorn run the way the image's CMD runs it, on a free loopback port. Its log
    is read as it comes, so that readiness means every worker finished startup."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        merged = {
            **os.environ,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": "2",
            **(env or {}),
        }
        self.workers = int(merged["GUNICORN_WORKERS"])
        program, *args = argv
        self.process = subprocess.Popen(
            [str(BIN / program), *args],
            cwd=ROOT,
            env=merged,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=die_with_parent,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.finish()}")
            if self.output.count("Application startup complete") >= self.workers:
                with urllib.request.urlopen(self.url + "/", timeout=5):
                    return
            time.sleep(0.05)
        raise TimeoutError(f"gunicorn did not start {self.workers} workers in {timeout} s")

    def finish(self, timeout: float = 30.0) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(10)
        return self.output


@pytest.fixture
def served() -> Iterator[Gunicorn]:
    server = Gunicorn(exec_form(steps("runtime", "CMD")[-1]))
    try:
        server.wait_ready()
        yield server
    finally:
        server.finish()


# -- gunicorn ----------------------------------------------------------------------------
def test_image_cmd_serves_the_example_with_uvicorn_workers(served: Gunicorn) -> None:
    with urllib.request.urlopen(served.url + "/", timeout=5) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"message": "Hello ASGI World!"}
    with urllib.request.urlopen(served.url + "/items/5?q=x", timeout=5) as response:
        assert json.loads(response.read()) == {"item_id": 5, "q": "x"}


def test_sigterm_stops_master_and_workers_cleanly(served: Gunicorn) -> None:
    master = psutil.Process(served.process.pid)
    workers = master.children()
    assert len(workers) == 2
    output = served.finish()
    assert served.process.returncode == 0, output
    assert "Handling signal: term" in output
    assert output.count("Application shutdown complete") == 2
    assert "Shutting down: Master" in output
    assert not any(worker.is_running() for worker in workers)


def test_sigterm_lets_an_in_flight_request_finish(tmp_path: Path) -> None:
    (tmp_path / "slow_app.py").write_text(
        "import asyncio\n"
        "from covet import CovetASGIApp, CovetRouter\n"
        "router = CovetRouter()\n"
        "async def index(request):\n"
        "    return 'ready'\n"
        "async def slow(request):\n"
        "    await asyncio.sleep(1.5)\n"
        "    return 'finished'\n"
        "router.add_route('/', index, ['GET'])\n"
        "router.add_route('/slow', slow, ['GET'])\n"
        "app = CovetASGIApp(router=router)\n"
    )
    server = Gunicorn(
        ["gunicorn", "-c", str(CONF), "slow_app:app"],
        env={"PYTHONPATH": str(tmp_path), "GUNICORN_WORKERS": "1"},
    )
    answers: list[Any] = []

    def fetch() -> None:
        try:
            with urllib.request.urlopen(server.url + "/slow", timeout=10) as response:
                answers.append((response.status, response.read()))
        except Exception as exc:
            answers.append(exc)

    client = threading.Thread(target=fetch)
    try:
        server.wait_ready()
        client.start()
        time.sleep(0.5)  # the request is now in the worker, sleeping
    finally:
        output = server.finish()
        if client.is_alive() or client.ident is not None:
            client.join(10)
    assert answers == [(200, b"finished")], output
    assert server.process.returncode == 0


def test_healthcheck_command_passes_on_a_live_app_and_fails_otherwise(served: Gunicorn) -> None:
    argv = healthcheck_argv()
    assert argv[0] == "python"

    def check(url: str) -> int:
        command = [sys.executable, *argv[1:]]
        env = {**os.environ, "HEALTHCHECK_URL": url}
        return subprocess.run(command, env=env, capture_output=True, timeout=30).returncode

    assert check(served.url + "/") == 0
    assert check(served.url + "/no-such-page") != 0  # 404
    assert check(f"http://127.0.0.1:{unused_port()}/") != 0  # nothing listening


def load_conf(env: dict[str, str]) -> dict[str, Any]:
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith("GUNICORN_") or key == "FORWARDED_ALLOW_IPS":
            del os.environ[key]
    os.environ.update(env)
    try:
        return runpy.run_path(str(CONF))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_gunicorn_conf_defaults_to_loopback_and_uvicorn_workers() -> None:
    conf = load_conf({})
    assert conf["bind"] == ["127.0.0.1:8000"]
    assert conf["worker_class"] == "uvicorn_worker.UvicornWorker"
    assert conf["workers"] >= 1
    assert (conf["graceful_timeout"], conf["keepalive"], conf["timeout"]) == (30, 5, 60)
    assert conf["control_socket_disable"] is True


def test_gunicorn_conf_reads_the_environment() -> None:
    conf = load_conf(
        {
            "GUNICORN_BIND": "0.0.0.0:9000, unix:/tmp/app.sock",
            "GUNICORN_WORKERS": "3",
            "GUNICORN_GRACEFUL_TIMEOUT": "7",
            "GUNICORN_KEEPALIVE": "2",
            "GUNICORN_MAX_REQUESTS": "1000",
        }
    )
    assert conf["bind"] == ["0.0.0.0:9000", "unix:/tmp/app.sock"]
    assert (conf["workers"], conf["graceful_timeout"], conf["keepalive"]) == (3, 7, 2)
    assert (conf["max_requests"], conf["max_requests_jitter"]) == (1000, 100)


@pytest.mark.parametrize(
    ("value", "message"),
    [("many", "GUNICORN_WORKERS must be an integer"), ("0", "GUNICORN_WORKERS must be >= 1")],
)
def test_gunicorn_conf_rejects_bad_numbers_naming_the_variable(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_conf({"GUNICORN_WORKERS": value})


def test_every_gunicorn_conf_setting_is_one_gunicorn_knows() -> None:
    # gunicorn ignores unknown names in a config file: a typo would silently do nothing.
    known = {setting.name for setting in gunicorn.config.KNOWN_SETTINGS}
    conf = load_conf({})
    names = {name for name, value in conf.items() if not name.startswith("_")}
    names -= {"annotations", "os"}
    assert names <= known, names - known


def test_gunicorn_worker_class_is_importable() -> None:
    module, _, cls = load_conf({})["worker_class"].rpartition(".")
    worker = getattr(__import__(module, fromlist=[cls]), cls)
    assert worker.__name__ == "UvicornWorker"


# -- Dockerfile ---------------------------------------------------------------------------
def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_in_a_rust_builder_and_runs_in_a_slim_python_stage() -> None:
    found = stages()
    assert [s["name"] for s in found] == ["rust", "builder", "runtime"]
    builder, runtime = stage("builder"), stage("runtime")
    assert runtime["image"].startswith("python:") and "-slim" in runtime["image"]
    # The wheel is built for one CPython ABI: both stages must use the same Python.
    assert builder["image"] == runtime["image"]
    # The wheel is the profile-guided build, as `make build` makes it.
    assert steps("builder", "RUN")[-1] == "python tools/pgo_build.py wheel --out /wheels"
    assert "rustup component add llvm-tools" in builder_commands()
    assert any("--from=rust" in value for value in steps("builder", "COPY"))
    assert not any("maturin" in value or "cargo" in value for value in steps("runtime", "RUN"))


def test_runtime_stage_runs_as_a_non_root_user() -> None:
    users = steps("runtime", "USER")
    assert users, "the runtime stage never leaves root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # The user is created in the image before it is used.
    assert any(f"--uid {user}" in value for value in steps("runtime", "RUN"))


def test_runtime_listens_on_all_interfaces_port_8000_and_healthchecks_it() -> None:
    env = " ".join(steps("runtime", "ENV"))
    assert "GUNICORN_BIND=0.0.0.0:8000" in env
    assert "HEALTHCHECK_URL=http://127.0.0.1:8000/" in env
    assert steps("runtime", "EXPOSE") == ["8000"]
    cmd = exec_form(steps("runtime", "CMD")[-1])
    assert cmd == ["gunicorn", "-c", "deploy/gunicorn.conf.py", "examples.hello:app"]
    assert "urllib.request.urlopen" in healthcheck_argv()[-1]


def test_runtime_installs_the_standard_extra_with_the_tested_versions() -> None:
    (install,) = [value for value in steps("runtime", "RUN") if "pip install" in value]
    assert '"${wheel}[standard]"' in install
    assert "gunicorn" in install and "uvicorn-worker" in install
    assert "--constraint /tmp/constraints.txt" in install
    assert "requirements-dev.txt /tmp/constraints.txt" in steps("runtime", "COPY")
    pins = requirement_pins()
    for package in ("gunicorn", "uvicorn-worker", "uvicorn", "uvloop", "httptools"):
        assert pins.get(package), f"{package} is not pinned in requirements-dev.txt"


def test_requirements_dev_lines_are_exact_pins_usable_as_constraints() -> None:
    for name, version in requirement_pins().items():
        assert re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name), name
        assert re.fullmatch(r"[0-9][0-9a-z.+!-]*", version), f"{name} is not pinned with =="


def test_dockerfile_tool_versions_match_the_project() -> None:
    for package in ("maturin", "orjson"):
        (install,) = [c for c in builder_commands() if c.startswith(f"pip install {package}")]
        assert install == f"pip install {package}=={requirement_pins()[package]}"
    declared = re.search(r'^rust-version = "([0-9.]+)"', (ROOT / "Cargo.toml").read_text(), re.M)
    assert declared is not None
    crate = declared.group(1)
    rust_image = stage("rust")["image"]
    version = re.match(r"rust:([0-9.]+)-", rust_image)
    assert version is not None, rust_image
    as_tuple = tuple(int(part) for part in version.group(1).split("."))
    assert as_tuple >= tuple(int(part) for part in crate.split("."))


def test_copied_files_exist_and_are_in_the_build_context() -> None:
    patterns = dockerignore_patterns()
    for name in ("builder", "runtime"):
        for value in steps(name, "COPY"):
            words = shlex.split(value)
            if any(word.startswith("--from") for word in words):
                continue
            for source in words[:-1]:
                matches = list(ROOT.glob(source))
                assert matches, f"COPY {source}: no such file"
                for path in matches:
                    relative = path.relative_to(ROOT).as_posix()
                    assert not is_ignored(relative, patterns), f"{relative} is .dockerignored"


def test_dockerignore_keeps_local_build_products_out() -> None:
    patterns = dockerignore_patterns()
    for relative in (
        "python/covet/_core.cpython-311-x86_64-linux-gnu.so",
        "python/covet/__pycache__/app.cpython-311.pyc",
        "target/release/libcovet_core.so",
        ".venv/bin/python",
        ".git/config",
        "tests/conftest.py",
    ):
        assert is_ignored(relative, patterns), relative
    for relative in ("python/covet/app.py", "rust/src/lib.rs", "benches/router.rs", "README.md"):
        assert not is_ignored(relative, patterns), relative


@pytest.mark.slow
@pytest.mark.timeout(600)  # two release builds (instrumented, then optimised) on a cold target
def test_builder_stage_wheel_installs_and_serves_in_a_fresh_venv(tmp_path: Path) -> None:
    # The builder's COPY steps, laid out at a fixed place with a cargo target dir of
    # its own (not the one `make build` uses), so that its cache is reused from one
    # run to the next.
    context = ROOT / "target" / "docker-context"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    copy_context("builder", context)

    out = tmp_path / "wheels"
    command = shlex.split(steps("builder", "RUN")[-1])
    assert command[:3] == ["python", "tools/pgo_build.py", "wheel"]
    command = [str(BIN / "python"), *command[1:]]
    command[command.index("/wheels")] = str(out)
    target = ROOT / "target" / "docker-build"
    env = {
        **os.environ,
        "CARGO_TARGET_DIR": str(target),
        "VIRTUAL_ENV": str(BIN.parent),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    build = subprocess.run(
        command, cwd=context, env=env, capture_output=True, text=True, timeout=600
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = out.glob("covetpy-*.whl")
    # Built with the profile the training run recorded wherever llvm-profdata can be
    # had (the Dockerfile adds it); the fallback without one is for other machines.
    profiled = runpy.run_path(str(ROOT / "tools" / "pgo_build.py"))["llvm_profdata"]() is not None
    assert ("without profile-guided" not in build.stderr) == profiled
    if profiled:
        assert len(list((target / "pgo-profiles").glob("*.profdata"))) == 1

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    assert len([n for n in names if n.startswith("covet/_core") and n.endswith(".so")]) == 1
    for module in ("covet/py.typed", "covet/templating.py", "covet/middleware/sessions.py"):
        assert module in names
    extras = set(re.findall(r"^Provides-Extra: (\S+)$", metadata.decode(), re.MULTILINE))
    assert {"standard", "server", "redis", "templates", "sessions", "full"} <= extras

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", str(wheel)],
        check=True,
        timeout=120,
    )
    # The one runtime dependency, orjson, is lent from the dev venv (no network in tests).
    lent = tmp_path / "lent"
    lent.mkdir()
    import orjson

    (lent / "orjson").symlink_to(Path(orjson.__file__).parent)
    script = (
        "import asyncio, covet, covet._core\n"
        "from covet import CovetASGIApp, CovetRouter\n"
        "router = CovetRouter()\n"
        "async def hello(request):\n"
        "    return {'hello': request.path_params['name']}\n"
        "router.add_route('/hi/{name}', hello, ['GET'])\n"
        "app = CovetASGIApp(router=router)\n"
        "scope = {'type': 'http', 'method': 'GET', 'path': '/hi/wheel', 'raw_path': b'/hi/wheel',\n"
        "         'query_string': b'', 'headers': [], 'http_version': '1.1', 'scheme': 'http'}\n"
        "sent = []\n"
        "async def receive():\n"
        "    return {'type': 'http.request', 'body': b''}\n"
        "async def send(message):\n"
        "    sent.append(message)\n"
        "asyncio.run(app(scope, receive, send))\n"
        "print(covet.__file__)\n"
        "print(sent[0]['status'], sent[1]['body'].decode())\n"
    )
    result = subprocess.run(
        [str(python), "-c", script],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(lent)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    location, answer = result.stdout.splitlines()
    assert location.startswith(str(venv))  # the wheel's copy, not the checkout
    assert answer == '200 {"hello":"wheel"}'


# -- docker-compose.yml ---------------------------------------------------------------------
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_runs_app_redis_and_nginx_from_this_repository() -> None:
    services = compose()["services"]
    assert set(services) == {"app", "redis", "nginx"}
    build = services["app"]["build"]
    context = build if isinstance(build, str) else build["context"]
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).is_file()
    assert services["redis"]["image"].startswith("redis:")
    assert services["nginx"]["image"].startswith("nginx:")


def test_compose_volumes_reference_files_that_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
    mounts = [v.split(":")[0] for v in compose()["services"]["nginx"]["volumes"]]
    assert "./deploy/nginx.conf" in mounts


def test_compose_publishes_only_nginx_and_waits_for_healthy_dependencies() -> None:
    services = compose()["services"]
    assert [name for name, s in services.items() if s.get("ports")] == ["nginx"]
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition.get("condition") == "service_healthy":
                has_check = "healthcheck" in services[dependency] or (
                    dependency == "app" and steps("runtime", "HEALTHCHECK")
                )
                assert has_check, f"{dependency} has no healthcheck to wait for"


def test_compose_stop_grace_outlasts_gunicorns_graceful_timeout() -> None:
    grace = compose()["services"]["app"]["stop_grace_period"]
    seconds = int(re.fullmatch(r"(\d+)s", grace).group(1))  # type: ignore[union-attr]
    assert seconds > load_conf({})["graceful_timeout"]


def nginx_conf() -> str:
    return (ROOT / "deploy" / "nginx.conf").read_text()


def compose_app_binds() -> list[str]:
    app = compose()["services"]["app"]
    binds: list[str] = load_conf({"GUNICORN_BIND": app["environment"]["GUNICORN_BIND"]})["bind"]
    return binds


def test_compose_app_serves_every_upstream_of_nginx_conf() -> None:
    blocks = re.findall(r"\bupstream\s+\S+\s*\{(.*?)\}", nginx_conf(), re.DOTALL)
    upstreams = [u for block in blocks for u in re.findall(r"^\s*server\s+([^\s;]+)", block, re.M)]
    assert upstreams, "deploy/nginx.conf has no upstream servers"
    app = compose()["services"]["app"]
    loopback = all(u.split(":")[0] in ("127.0.0.1", "localhost") for u in upstreams)
    if loopback:
        # nginx proxies to its own loopback: the app must share its network namespace
        # and listen on each of those addresses.
        assert app.get("network_mode") == "service:nginx"
        assert sorted(compose_app_binds()) == sorted(upstreams)
    else:
        assert all(u.split(":")[0] == "app" for u in upstreams), upstreams


def test_compose_nginx_has_the_directories_its_config_writes_to() -> None:
    nginx = compose()["services"]["nginx"]
    mounted = [*nginx.get("tmpfs", []), *(v.split(":")[1] for v in nginx.get("volumes", []))]
    conf = nginx_conf()
    temp_dirs = re.findall(r"^\s*\w+_temp_path\s+([^\s;]+)", conf, re.MULTILINE)
    for directory in temp_dirs:
        parent = str(Path(directory).parent)
        # The official image has /var/cache/nginx; anything else needs a mount.
        if not parent.startswith("/var/cache/nginx"):
            assert parent in mounted, f"{directory}: {parent} is not mounted in the container"
    mount = next(v for v in nginx["volumes"] if v.startswith("./deploy/nginx"))
    # A whole configuration (events/http blocks) replaces nginx.conf; a server block
    # goes in conf.d/.
    if re.search(r"^\s*http\s*\{", conf, re.MULTILINE):
        assert mount.split(":")[1] == "/etc/nginx/nginx.conf"
    else:
        assert mount.split(":")[1].startswith("/etc/nginx/conf.d/")


def test_gunicorn_on_the_compose_addresses_behind_nginx_serves_through_the_proxy(
    start_nginx: Any,
) -> None:
    # The compose wiring, on free ports: one gunicorn listening on several addresses,
    # nginx (deploy/nginx.conf) balancing over them.
    ports = [unused_port() for _ in compose_app_binds()]
    binds = ",".join(f"127.0.0.1:{port}" for port in ports)
    server = Gunicorn(exec_form(steps("runtime", "CMD")[-1]), env={"GUNICORN_BIND": binds})
    try:
        server.url = f"http://127.0.0.1:{ports[-1]}"
        server.wait_ready()
        proxy = start_nginx(ports)
        for _ in range(2 * len(ports)):
            with urllib.request.urlopen(proxy.base_url + "/", timeout=5) as response:
                assert json.loads(response.read()) == {"message": "Hello ASGI World!"}
        for port in ports:  # every address answers, not only the one waited for
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/items/1", timeout=5) as direct:
                assert direct.status == 200
    finally:
        output = server.finish()
    assert server.process.returncode == 0, output


# -- packaging extras ------------------------------------------------------------------------
def extras() -> dict[str, list[str]]:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found: dict[str, list[str]] = project["optional-dependencies"]
    return found


def test_full_extra_is_every_other_extra_together() -> None:
    found = extras()
    others = {req for name, reqs in found.items() if name not in ("full", "server") for req in reqs}
    assert set(found["full"]) == others


def test_extras_name_what_the_optional_modules_need() -> None:
    found = extras()
    assert found["server"] == found["standard"]  # the old name keeps working
    assert any(req.startswith("uvicorn[standard]") for req in found["standard"])
    assert any(req.startswith("jinja2") for req in found["templates"])
    assert any(req.startswith("itsdangerous") for req in found["sessions"])
    assert any(req.startswith("redis") for req in found["redis"])


def test_gunicorn_with_a_bad_setting_exits_naming_the_variable() -> None:
    result = subprocess.run(
        [str(BIN / "gunicorn"), "-c", str(CONF), "examples.hello:app"],
        cwd=ROOT,
        env={**os.environ, "GUNICORN_WORKERS": "lots"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "GUNICORN_WORKERS must be an integer, got 'lots'" in result.stdout + result.stderr


# -- README ----------------------------------------------------------------------------------
def readme_deployment_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n## Deployment\n") :]
    section = section[: section.index("\n## ", 1)]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_deployment_commands_are_the_ones_tested_here() -> None:
    commands = readme_deployment_commands()
    cmd = " ".join(exec_form(steps("runtime", "CMD")[-1]))
    conf_source = CONF.read_text()
    gunicorn_lines = [line for line in commands if "gunicorn -c" in line]
    assert gunicorn_lines
    for line in gunicorn_lines:
        words = shlex.split(line)
        settings = [w.split("=")[0] for w in words if re.fullmatch(r"[A-Z_]+=.*", w)]
        assert " ".join(words[len(settings) :]) == cmd
        assert all(f'"{name}"' in conf_source for name in settings), settings
    (run,) = [line for line in commands if line.startswith("docker run")]
    assert f"-p 8000:{steps('runtime', 'EXPOSE')[0]}" in run
    assert "docker compose up --build" in commands
    assert "8080:80" in compose()["services"]["nginx"]["ports"]
