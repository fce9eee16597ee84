"""Settings from COVET_* variables, the ``covet`` command line, and ``python -m covet
run`` serving a real request."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import covet
from conftest import free_port
from covet import cli
from covet.config import ENV_VARIABLES, ConfigError, Settings
from servers import die_with_parent

ROOT = Path(__file__).resolve().parents[2]


# --- Settings ------------------------------------------------------------------------------
def test_defaults_with_an_empty_environment() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert (settings.debug, settings.log_level, settings.keep_alive) == (False, "info", 5)
    assert (settings.max_requests, settings.timeout) == (None, None)
    assert (settings.reload, settings.access_log) == (False, True)


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVET_PORT", "9001")
    assert Settings.from_env().port == 9001


@pytest.mark.parametrize(
    ("variable", "raw", "field", "value"),
    [
        ("COVET_HOST", "0.0.0.0", "host", "0.0.0.0"),
        ("COVET_HOST", " example.com ", "host", "example.com"),
        ("COVET_HOST", "::1", "host", "::1"),
        ("COVET_HOST", "[::1]", "host", "::1"),
        ("COVET_HOST", "localhost", "host", "localhost"),
        ("COVET_PORT", "1", "port", 1),
        ("COVET_PORT", "65535", "port", 65535),
        ("COVET_PORT", " 8080 ", "port", 8080),
        ("COVET_WORKERS", "4", "workers", 4),
        ("COVET_DEBUG", "true", "debug", True),
        ("COVET_DEBUG", "TRUE", "debug", True),
        ("COVET_DEBUG", "1", "debug", True),
        ("COVET_DEBUG", "Yes", "debug", True),
        ("COVET_DEBUG", "on", "debug", True),
        ("COVET_DEBUG", "False", "debug", False),
        ("COVET_DEBUG", "0", "debug", False),
        ("COVET_DEBUG", "no", "debug", False),
        ("COVET_DEBUG", "OFF", "debug", False),
        ("COVET_LOG_LEVEL", "critical", "log_level", "critical"),
        ("COVET_LOG_LEVEL", "ERROR", "log_level", "error"),
        ("COVET_LOG_LEVEL", "Warning", "log_level", "warning"),
        ("COVET_LOG_LEVEL", "debug", "log_level", "debug"),
        ("COVET_LOG_LEVEL", "trace", "log_level", "trace"),
        ("COVET_KEEP_ALIVE", "2", "keep_alive", 2),
        ("COVET_MAX_REQUESTS", "1000", "max_requests", 1000),
        ("COVET_MAX_REQUESTS", "none", "max_requests", None),
        ("COVET_MAX_REQUESTS", "", "max_requests", None),
        ("COVET_TIMEOUT", "30", "timeout", 30),
        ("COVET_TIMEOUT", "0", "timeout", 0),
        ("COVET_TIMEOUT", "None", "timeout", None),
        ("COVET_RELOAD", "yes", "reload", True),
        ("COVET_ACCESS_LOG", "off", "access_log", False),
    ],
)
def test_each_variable_accepts_its_documented_values(
    variable: str, raw: str, field: str, value: Any
) -> None:
    assert getattr(Settings.from_env({variable: raw}), field) == value


@pytest.mark.parametrize(
    ("variable", "raw", "expected"),
    [
        ("COVET_HOST", "", "an IP address or a host name"),
        ("COVET_HOST", "bad host", "an IP address or a host name"),
        ("COVET_HOST", "http://x", "an IP address or a host name"),
        ("COVET_PORT", "0", "an integer in 1..65535"),
        ("COVET_PORT", "65536", "an integer in 1..65535"),
        ("COVET_PORT", "80.5", "an integer in 1..65535"),
        ("COVET_PORT", "http", "an integer in 1..65535"),
        ("COVET_WORKERS", "0", "an integer >= 1"),
        ("COVET_WORKERS", "-2", "an integer >= 1"),
        ("COVET_WORKERS", "four", "an integer >= 1"),
        ("COVET_DEBUG", "maybe", "true/false, 1/0, yes/no or on/off"),
        ("COVET_DEBUG", "", "true/false, 1/0, yes/no or on/off"),
        ("COVET_DEBUG", "2", "true/false, 1/0, yes/no or on/off"),
        ("COVET_LOG_LEVEL", "verbose", "one of critical, error, warning, info, debug, trace"),
        ("COVET_LOG_LEVEL", "", "one of critical, error, warning, info, debug, trace"),
        ("COVET_KEEP_ALIVE", "0", "an integer >= 1"),
        ("COVET_KEEP_ALIVE", "2s", "an integer >= 1"),
        ("COVET_MAX_REQUESTS", "0", "an integer >= 1, or none"),
        ("COVET_MAX_REQUESTS", "lots", "an integer >= 1, or none"),
        ("COVET_TIMEOUT", "-1", "an integer >= 0, or none"),
        ("COVET_TIMEOUT", "30s", "an integer >= 0, or none"),
        ("COVET_RELOAD", "sometimes", "true/false, 1/0, yes/no or on/off"),
        ("COVET_ACCESS_LOG", "loud", "true/false, 1/0, yes/no or on/off"),
    ],
)
def test_bad_values_name_the_variable_the_value_and_what_is_accepted(
    variable: str, raw: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({variable: raw})
    error = info.value
    assert (error.source, error.value, error.expected) == (variable, raw, expected)
    assert str(error) == f"invalid {variable}={raw!r}: expected {expected}"


def test_every_field_has_a_variable() -> None:
    import dataclasses

    assert set(ENV_VARIABLES) == {f.name for f in dataclasses.fields(Settings)}
    assert all(v == "COVET_" + k.upper() for k, v in ENV_VARIABLES.items())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"port": "8000"},
        {"port": True},
        {"port": 0},
        {"workers": 1.5},
        {"debug": "yes"},
        {"debug": 1},
        {"log_level": "loud"},
        {"keep_alive": None},
        {"max_requests": -1},
        {"timeout": "30"},
        {"host": 127},
    ],
)
def test_constructing_settings_type_checks_and_validates(kwargs: dict) -> None:
    with pytest.raises(ConfigError) as info:
        Settings(**kwargs)
    assert info.value.source == next(iter(kwargs))


def test_reload_with_several_workers_is_rejected() -> None:
    with pytest.raises(ConfigError, match="reload"):
        Settings.from_env({"COVET_RELOAD": "true", "COVET_WORKERS": "4"})


def test_uvicorn_kwargs_map_every_setting() -> None:
    settings = Settings.from_env(
        {
            "COVET_HOST": "0.0.0.0",
            "COVET_PORT": "8123",
            "COVET_WORKERS": "4",
            "COVET_LOG_LEVEL": "warning",
            "COVET_KEEP_ALIVE": "2",
            "COVET_MAX_REQUESTS": "1000",
            "COVET_TIMEOUT": "30",
            "COVET_ACCESS_LOG": "false",
        }
    )
    assert settings.uvicorn_kwargs() == {
        "host": "0.0.0.0",
        "port": 8123,
        "workers": 4,
        "log_level": "warning",
        "timeout_keep_alive": 2,
        "limit_max_requests": 1000,
        "timeout_graceful_shutdown": 30,
        "access_log": False,
        "reload": False,
    }
    reloading = Settings(reload=True).uvicorn_kwargs()
    assert reloading["reload"] is True and "workers" not in reloading


def test_uvicorn_kwargs_are_accepted_by_uvicorn_config() -> None:
    uvicorn = pytest.importorskip("uvicorn")
    config = uvicorn.Config("apps.conversion:app", **Settings(max_requests=5).uvicorn_kwargs())
    assert config.limit_max_requests == 5 and config.timeout_keep_alive == 5


def test_to_env_round_trips() -> None:
    settings = Settings(host="::1", port=9000, debug=True, max_requests=10, access_log=False)
    assert Settings.from_env(settings.to_env()) == settings


# --- the command line -----------------------------------------------------------------------
def test_flags_override_env_which_overrides_defaults() -> None:
    env = {"COVET_PORT": "9000", "COVET_HOST": "0.0.0.0", "COVET_LOG_LEVEL": "debug"}
    app, kwargs, settings = cli.resolve_run(
        ["run", "pkg.module:app", "--port", "9100", "--workers", "3", "--no-access-log"], env
    )
    assert app == "pkg.module:app"
    assert kwargs["port"] == 9100  # flag over env
    assert kwargs["host"] == "0.0.0.0" and kwargs["log_level"] == "debug"  # env over default
    assert kwargs["workers"] == 3 and kwargs["access_log"] is False  # flags over defaults
    assert kwargs["timeout_keep_alive"] == 5  # default
    assert kwargs["app_dir"] == "." and kwargs["factory"] is False
    assert settings.port == 9100


def test_every_flag_reaches_uvicorn() -> None:
    _, kwargs, settings = cli.resolve_run(
        [
            "run",
            "main:app",
            "--host=::1",
            "--port=1234",
            "--log-level=TRACE",
            "--keep-alive=7",
            "--max-requests=50",
            "--timeout=9",
            "--debug",
            "--reload",
            "--app-dir=src",
            "--factory",
            "--root-path=/api",
        ],
        {"COVET_DEBUG": "false", "COVET_RELOAD": "false"},
    )
    assert kwargs == {
        "host": "::1",
        "port": 1234,
        "log_level": "trace",
        "timeout_keep_alive": 7,
        "limit_max_requests": 50,
        "timeout_graceful_shutdown": 9,
        "access_log": True,
        "reload": True,
        "app_dir": "src",
        "factory": True,
        "root_path": "/api",
    }
    assert settings.debug is True


def test_negative_boolean_flag_overrides_env() -> None:
    _, _, settings = cli.resolve_run(["run", "m:app", "--no-debug"], {"COVET_DEBUG": "1"})
    assert settings.debug is False


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["run", "m:app", "--port", "70000"], {}, "invalid --port='70000'"),
        (["run", "m:app", "--workers", "0"], {}, "invalid --workers='0'"),
        (["run", "m:app", "--log-level", "loud"], {}, "invalid --log-level='loud'"),
        (["run", "m:app"], {"COVET_PORT": "x"}, "invalid COVET_PORT='x'"),
        (["run", "m:app", "--reload", "--workers", "2"], {}, "invalid workers=2"),
        (["run", "not-an-import-string"], {}, "invalid APP='not-an-import-string'"),
    ],
)
def test_invalid_config_exits_2_with_a_one_line_error(
    argv: list[str],
    env: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    isolated = {k: v for k, v in os.environ.items() if k not in ENV_VARIABLES.values()}
    monkeypatch.setattr(os, "environ", isolated)  # main() exports settings into it
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    started: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append(a))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"covet: error: {message}") and err.count("\n") == 1
    assert started == []


@pytest.mark.parametrize("argv", [["run"], ["run", "m:app", "--bogus"], [], ["serve"]])
def test_usage_errors_exit_2_with_one_line(argv: list[str], capsys: Any) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and err.count("\n") == 1


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"covet {covet.__version__}"


def test_main_starts_uvicorn_with_an_import_string_and_exports_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    isolated = {k: v for k, v in os.environ.items() if k not in ENV_VARIABLES.values()}
    monkeypatch.setattr(os, "environ", isolated)  # main() exports settings into it
    calls: list[tuple[Any, dict]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: calls.append((app, kwargs)))
    monkeypatch.setenv("COVET_WORKERS", "2")
    assert cli.main(["run", "apps.conversion:app", "--debug"]) == 0
    [(app, kwargs)] = calls
    assert app == "apps.conversion:app" and kwargs["workers"] == 2
    assert os.environ["COVET_DEBUG"] == "true" and os.environ["COVET_WORKERS"] == "2"


# --- a real server ------------------------------------------------------------------------------
def wait_for_port(process: subprocess.Popen, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"covet run exited with {process.returncode}:\n{output}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("covet run did not start listening in time")


def test_python_m_covet_run_serves_http() -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}",
        "COVET_PORT": "1",  # overridden by the flag
        "COVET_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "covet",
            "run",
            "apps.conversion:app",
            "--port",
            str(port),
            "--debug",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    try:
        wait_for_port(process, port)
        url = f"http://127.0.0.1:{port}/settings"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            body = json.loads(response.read())
        assert body == {"debug": True, "port": port, "log_level": "warning"}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_python_m_covet_rejects_bad_env_without_starting() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "covet", "run", "apps.conversion:app"],
        cwd=ROOT,
        env={**os.environ, "COVET_WORKERS": "none"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr == "covet: error: invalid COVET_WORKERS='none': expected an integer >= 1\n"
