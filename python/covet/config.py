"""Server settings from ``COVET_*`` environment variables, validated, and their
mapping onto ``uvicorn.run`` keyword arguments.

==================  ===============================  =========  ===================================
variable            accepted                         default    uvicorn argument
==================  ===============================  =========  ===================================
COVET_HOST          an IP address or a host name     127.0.0.1  ``host``
COVET_PORT          integer 1..65535                 8000       ``port``
COVET_WORKERS       integer >= 1                     1          ``workers``
COVET_DEBUG         true/false/1/0/yes/no/on/off     false      (for the app; see ``Settings``)
COVET_LOG_LEVEL     critical/error/warning/info/     info       ``log_level``
                    debug/trace
COVET_KEEP_ALIVE    integer seconds >= 1             5          ``timeout_keep_alive``
COVET_MAX_REQUESTS  integer >= 1, or none            none       ``limit_max_requests``
COVET_TIMEOUT       integer seconds >= 0, or none    none       ``timeout_graceful_shutdown``
COVET_RELOAD        true/false/...                   false      ``reload``
COVET_ACCESS_LOG    true/false/...                   true       ``access_log``
==================  ===============================  =========  ===================================

Boolean and level values are case-insensitive; surrounding whitespace is ignored.
"none" (or an empty value) means "no limit" for the optional ones.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_HOSTNAME = re.compile(
    r"^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


class ConfigError(ValueError):
    """A setting has a value that is not accepted. ``source`` is where it came from
    (``COVET_PORT``, ``--port``, ``port``), ``value`` the bad value and ``expected``
    what is accepted."""

    def __init__(self, source: str, value: Any, expected: str) -> None:
        self.source = source
        self.value = value
        self.expected = expected
        super().__init__(f"invalid {source}={value!r}: expected {expected}")


# -- value parsers (str → typed value); each raises ValueError with what is accepted ----------
def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("true/false, 1/0, yes/no or on/off")


def _int_parser(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    expected = (
        f"an integer in {minimum}..{maximum}" if maximum is not None else f"an integer >= {minimum}"
    )

    def parse(text: str) -> int:
        value = text.strip()
        if not re.fullmatch(r"[+-]?\d+", value):
            raise ValueError(expected)
        number = int(value)
        if number < minimum or (maximum is not None and number > maximum):
            raise ValueError(expected)
        return number

    return parse


def _optional(parse: Callable[[str], T]) -> Callable[[str], T | None]:
    def parse_optional(text: str) -> T | None:
        if text.strip().lower() in ("", "none"):
            return None
        try:
            return parse(text)
        except ValueError as exc:
            raise ValueError(f"{exc}, or none") from None

    return parse_optional


def parse_log_level(text: str) -> str:
    value = text.strip().lower()
    if value not in LOG_LEVELS:
        raise ValueError("one of " + ", ".join(LOG_LEVELS))
    return value


def parse_host(text: str) -> str:
    value = text.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.match(value):
            raise ValueError("an IP address or a host name") from None
    return value


parse_port = _int_parser(1, 65535)
parse_workers = _int_parser(1)
parse_keep_alive = _int_parser(1)
parse_max_requests = _optional(_int_parser(1))
parse_timeout = _optional(_int_parser(0))


@dataclasses.dataclass(frozen=True)
class Settings:
    """How to serve a CovetPy app. Construct directly (values are type-checked and
    validated: a ``ConfigError`` names the field), or from the environment with
    ``from_env``.

    ``debug`` is not a uvicorn setting: the ``covet`` CLI exports the effective
    settings as ``COVET_*`` variables before starting the server, so the app (in every
    worker) can read them: ``create_asgi_app(debug=Settings.from_env().debug)``.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    debug: bool = False
    log_level: str = "info"
    keep_alive: int = 5
    max_requests: int | None = None
    timeout: int | None = None
    reload: bool = False
    access_log: bool = True

    def __post_init__(self) -> None:
        for name, spec in _FIELDS.items():
            value = getattr(self, name)
            if not _has_type(value, spec.kind):
                raise ConfigError(name, value, spec.expected)
            try:
                # Parsing the canonical text form checks ranges with the same rules
                # (and messages) as environment variables and CLI flags.
                checked = spec.parse(_as_text(value))
            except ValueError as exc:
                raise ConfigError(name, value, str(exc)) from None
            object.__setattr__(self, name, checked)
        if self.reload and self.workers > 1:
            raise ConfigError(
                "workers", self.workers, "1 when reload is on (reload runs a single process)"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``COVET_*`` variables (``os.environ`` by default); typed
        ``overrides`` take precedence over the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, spec in _FIELDS.items():
            if spec.variable in env:
                raw = env[spec.variable]
                try:
                    values[name] = spec.parse(raw)
                except ValueError as exc:
                    raise ConfigError(spec.variable, raw, str(exc)) from None
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def uvicorn_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``uvicorn.run`` (``workers`` is left out with
        ``reload``, which always runs one process)."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "log_level": self.log_level,
            "timeout_keep_alive": self.keep_alive,
            "limit_max_requests": self.max_requests,
            "timeout_graceful_shutdown": self.timeout,
            "access_log": self.access_log,
            "reload": self.reload,
        }
        if not self.reload:
            kwargs["workers"] = self.workers
        return kwargs

    def to_env(self) -> dict[str, str]:
        """The ``COVET_*`` variables that reproduce these settings."""
        return {spec.variable: _as_text(getattr(self, name)) for name, spec in _FIELDS.items()}


def _as_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _has_type(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "optional int" and value is None:
        return True
    return isinstance(value, int) and not isinstance(value, bool)


class _Field(NamedTuple):
    variable: str
    parse: Callable[[str], Any]
    kind: str
    expected: str


def _field(variable: str, parse: Callable[[str], Any], kind: str) -> _Field:
    try:
        parse("\0")  # every parser rejects this; its message is what is accepted
    except ValueError as exc:
        return _Field(variable, parse, kind, str(exc))
    raise AssertionError(f"parser for {variable} accepted an invalid value")


#: field name → (environment variable, parser)
_FIELDS: dict[str, _Field] = {
    "host": _field("COVET_HOST", parse_host, "str"),
    "port": _field("COVET_PORT", parse_port, "int"),
    "workers": _field("COVET_WORKERS", parse_workers, "int"),
    "debug": _field("COVET_DEBUG", parse_bool, "bool"),
    "log_level": _field("COVET_LOG_LEVEL", parse_log_level, "str"),
    "keep_alive": _field("COVET_KEEP_ALIVE", parse_keep_alive, "int"),
    "max_requests": _field("COVET_MAX_REQUESTS", parse_max_requests, "optional int"),
    "timeout": _field("COVET_TIMEOUT", parse_timeout, "optional int"),
    "reload": _field("COVET_RELOAD", parse_bool, "bool"),
    "access_log": _field("COVET_ACCESS_LOG", parse_bool, "bool"),
}

#: Settings field → environment variable.
ENV_VARIABLES = {name: spec.variable for name, spec in _FIELDS.items()}

__all__ = ["ENV_VARIABLES", "LOG_LEVELS", "ConfigError", "Settings", "parse_bool"]
