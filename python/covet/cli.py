"""The ``covet`` command line (also ``python -m covet``).

``covet run module:app [options]`` serves an ASGI app with uvicorn. Each setting
comes from its flag if given, else from its ``COVET_*`` environment variable, else
from its default (see ``covet.config``). The app is passed to uvicorn as an import
string, so ``--workers`` and ``--reload`` work. The effective settings are exported
as ``COVET_*`` variables before the server starts, so the app (in every worker
process) sees the same values through ``covet.config.Settings.from_env()``.

Invalid settings exit with status 2 and a one-line error on stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from covet import __version__
from covet.config import (
    ConfigError,
    Settings,
    parse_host,
    parse_keep_alive,
    parse_log_level,
    parse_max_requests,
    parse_port,
    parse_timeout,
    parse_workers,
)

_APP_STRING = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

#: flag destination → (flag as written, parser) for the valued settings.
_VALUED_FLAGS = {
    "host": ("--host", parse_host),
    "port": ("--port", parse_port),
    "workers": ("--workers", parse_workers),
    "log_level": ("--log-level", parse_log_level),
    "keep_alive": ("--keep-alive", parse_keep_alive),
    "max_requests": ("--max-requests", parse_max_requests),
    "timeout": ("--timeout", parse_timeout),
}
_BOOLEAN_FLAGS = ("debug", "reload", "access_log")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="covet", description="CovetPy command line.")
    parser.add_argument("--version", action="version", version=f"covet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    run = commands.add_parser(
        "run",
        help="serve an ASGI app with uvicorn",
        description="Serve an ASGI app with uvicorn. Flags override COVET_* environment "
        "variables, which override the defaults.",
    )
    run.add_argument("app", help="the app as an import string, module:attribute")
    run.add_argument("--host", help="bind address (COVET_HOST, default 127.0.0.1)")
    run.add_argument("--port", help="port, 1..65535 (COVET_PORT, default 8000)")
    run.add_argument("--workers", help="worker processes, >= 1 (COVET_WORKERS, default 1)")
    run.add_argument(
        "--log-level",
        help="critical, error, warning, info, debug or trace (COVET_LOG_LEVEL, default info)",
    )
    run.add_argument(
        "--keep-alive",
        help="seconds an idle keep-alive connection stays open (COVET_KEEP_ALIVE, default 5)",
    )
    run.add_argument(
        "--max-requests",
        help="requests a worker serves before restarting, or none "
        "(COVET_MAX_REQUESTS, default none)",
    )
    run.add_argument(
        "--timeout",
        help="graceful shutdown timeout in seconds, or none (COVET_TIMEOUT, default none)",
    )
    run.add_argument(
        "--debug",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="debug mode for the app, exported as COVET_DEBUG (default off)",
    )
    run.add_argument(
        "--reload",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="restart on code changes, for development (COVET_RELOAD, default off)",
    )
    run.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="log every request (COVET_ACCESS_LOG, default on)",
    )
    run.add_argument(
        "--app-dir", default=".", help="directory added to sys.path to import the app (.)"
    )
    run.add_argument(
        "--factory", action="store_true", help="the attribute is a factory returning the app"
    )
    run.add_argument("--root-path", default="", help="ASGI root_path, when mounted under a prefix")
    return parser


def settings_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Flags over ``COVET_*`` variables over defaults."""
    overrides: dict[str, Any] = {}
    for name, (flag, parse) in _VALUED_FLAGS.items():
        raw = getattr(args, name)
        if raw is not None:
            try:
                overrides[name] = parse(raw)
            except ValueError as exc:
                raise ConfigError(flag, raw, str(exc)) from None
    for name in _BOOLEAN_FLAGS:
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    return Settings.from_env(environ, **overrides)


def resolve_run(
    argv: Sequence[str], environ: Mapping[str, str] | None = None
) -> tuple[str, dict[str, Any], Settings]:
    """``(app import string, uvicorn.run keyword arguments, settings)`` for a
    ``covet run ...`` command line, without starting anything. Raises
    ``ConfigError`` for invalid settings; usage errors exit like argparse (status 2)."""
    args = build_parser().parse_args(list(argv))
    if args.command != "run":  # pragma: no cover - the only command
        raise ConfigError("COMMAND", args.command, "run")
    if not _APP_STRING.match(args.app):
        raise ConfigError("APP", args.app, "an import string module:attribute, e.g. main:app")
    settings = settings_from_args(args, os.environ if environ is None else environ)
    kwargs = settings.uvicorn_kwargs()
    kwargs["app_dir"] = args.app_dir
    kwargs["factory"] = args.factory
    if args.root_path:
        kwargs["root_path"] = args.root_path
    return args.app, kwargs, settings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``covet`` script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        app, kwargs, settings = resolve_run(argv)
    except ConfigError as exc:
        print(f"covet: error: {exc}", file=sys.stderr)
        return 2
    try:
        import uvicorn
    except ImportError:
        print(
            "covet: error: uvicorn is not installed (pip install 'covetpy[server]')",
            file=sys.stderr,
        )
        return 1
    os.environ.update(settings.to_env())
    uvicorn.run(app, **kwargs)
    return 0


__all__ = ["build_parser", "main", "resolve_run", "settings_from_args"]
