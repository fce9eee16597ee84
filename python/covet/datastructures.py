"""Request and response value types: headers, query parameters, URL, client address."""

from __future__ import annotations

import asyncio
import io
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import IO, Any, NamedTuple, TypeVar, Union
from urllib.parse import SplitResult, urlencode, urlsplit

from covet import _core
from covet.types import RawHeaders

#: The longest ``Host`` value taken as a URL authority: a 253-byte DNS name plus
#: ``:65535``. Longer values are ignored like any other invalid host.
MAX_HOST_LENGTH = 259

# A DNS name or IPv4 address, or a bracketed IPv6 address, then an optional port:
# nothing that could carry userinfo, a path, a query, spaces or controls into a URL.
_HOST = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9_.-]*|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?")


def is_valid_host(host: str) -> bool:
    """Whether ``host`` (a ``Host`` or ``X-Forwarded-Host`` value) is a plain
    ``host[:port]``: a name or IPv4 address made of letters, digits, ``-``, ``_`` and
    ``.``, or a bracketed IPv6 address, with a port of at most 65535. Anything else
    (``evil.com/path``, ``a b``, ``user@host``, CR/LF, an unclosed ``[``, an overlong
    value) is refused, so it can never change the host of ``request.url``."""
    if len(host) > MAX_HOST_LENGTH:
        return False
    match = _HOST.fullmatch(host)
    if match is None:
        return False
    port = match.group(1)
    return port is None or int(port) <= 65535


class Address(NamedTuple):
    host: str
    port: int


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued view over ASGI raw headers.

    ``headers["x"]`` and ``get`` return the first value; ``getlist`` returns all of
    them in order. As in Starlette, ``keys()``, ``values()``, ``items()``, iteration
    and ``len()`` see every header line, repeated ones included, with lowercase
    names. The name lookup dict is built on first use only.
    """

    __slots__ = ("_lookup", "raw")

    def __init__(
        self,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        *,
        raw: RawHeaders | None = None,
        scope: Mapping[str, Any] | None = None,
    ) -> None:
        if raw is None:
            if scope is not None:
                raw = list(scope["headers"])
            else:
                items = headers.items() if isinstance(headers, Mapping) else (headers or ())
                raw = list(_core.encode_headers(list(items)))
        self.raw = raw
        self._lookup: dict[str, str] | None = None

    def _dict(self) -> dict[str, str]:
        lookup = self._lookup
        if lookup is None:
            lookup = {}
            for name, value in self.raw:
                key = name.decode("latin-1").lower()
                if key not in lookup:
                    lookup[key] = value.decode("latin-1")
            self._lookup = lookup
        return lookup

    def __getitem__(self, key: str) -> str:
        return self._dict()[key.lower()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._dict().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._dict()

    def keys(self) -> list[str]:  # type: ignore[override]
        """Every header name, lowercase, once per header line."""
        return [name.decode("latin-1").lower() for name, _ in self.raw]

    def values(self) -> list[str]:  # type: ignore[override]
        """Every header value, once per header line."""
        return [value.decode("latin-1") for _, value in self.raw]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        """Every ``(name, value)`` pair, names lowercase, repeated headers kept."""
        return [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in self.raw]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.raw)

    def getlist(self, key: str) -> list[str]:
        wanted = key.lower().encode("latin-1")
        return [v.decode("latin-1") for n, v in self.raw if n.lower() == wanted]

    def multi_items(self) -> list[tuple[str, str]]:
        return self.items()

    def mutablecopy(self) -> MutableHeaders:
        """A ``MutableHeaders`` over a copy of these header lines."""
        return MutableHeaders(raw=list(self.raw))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return sorted(self.raw) == sorted(other.raw)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.items()!r})"


class MutableHeaders(Headers, MutableMapping[str, str]):
    """Response headers: edits go straight to the response's raw header list and are
    validated (no CR/LF injection, token names). ``headers | {...}`` is a new
    ``MutableHeaders`` with the mapping's values set; ``headers |= {...}`` sets them
    in place."""

    __slots__ = ()

    def __setitem__(self, key: str, value: str) -> None:
        encoded = _core.encode_headers([(key, value)])
        name = encoded[0][0]
        self.raw[:] = [(n, v) for n, v in self.raw if n.lower() != name]
        self.raw.append(encoded[0])
        self._lookup = None

    def __delitem__(self, key: str) -> None:
        name = key.lower().encode("latin-1")
        kept = [(n, v) for n, v in self.raw if n.lower() != name]
        if len(kept) == len(self.raw):
            raise KeyError(key)
        self.raw[:] = kept
        self._lookup = None

    def append(self, key: str, value: str) -> None:
        """Adds a value without replacing existing ones (e.g. ``set-cookie``)."""
        self.raw.extend(_core.encode_headers([(key, value)]))
        self._lookup = None

    def setdefault(self, key: str, value: str = "") -> str:
        if key not in self:
            self[key] = value
        return self[key]

    def add_vary_header(self, vary: str) -> None:
        """Appends ``vary`` to the ``Vary`` header (creating it if needed)."""
        existing = self.get("vary")
        self["vary"] = f"{existing}, {vary}" if existing is not None else vary

    def __or__(self, other: object) -> MutableHeaders:
        if not isinstance(other, Mapping):
            raise TypeError(f"expected a mapping, got {type(other).__name__}")
        new = self.mutablecopy()
        new.update(other)
        return new

    def __ior__(self, other: object) -> MutableHeaders:
        if not isinstance(other, Mapping):
            raise TypeError(f"expected a mapping, got {type(other).__name__}")
        self.update(other)
        return self


V = TypeVar("V")


def _pairs(items: Any) -> list[tuple[str, Any]]:
    """The pairs of a multi-dict (every one, repeated keys kept), a mapping or an
    iterable of pairs."""
    multi_items = getattr(items, "multi_items", None)
    if multi_items is not None:
        return list(multi_items())
    if isinstance(items, Mapping):
        return list(items.items())
    return list(items)


def _same_pairs(a: list[tuple[str, Any]], b: list[tuple[str, Any]]) -> bool:
    """Whether two pair lists hold the same pairs, in any order (multiset equality)."""
    if len(a) != len(b):
        return False
    try:
        return Counter(a) == Counter(b)
    except TypeError:  # unhashable values: match them one by one
        rest = list(b)
        for pair in a:
            try:
                rest.remove(pair)
            except ValueError:
                return False
        return True


class MultiDict(Mapping[str, V]):
    """An immutable multi-valued mapping: ``d["k"]`` and ``get`` return the last
    value for a repeated key (as Starlette does), ``getlist`` all of them in order,
    ``multi_items`` every pair. Two are equal when they are of the same type and hold
    the same pairs in any order."""

    __slots__ = ("_dict", "_list")

    _list: list[tuple[str, V]]
    _dict: dict[str, V]

    def __getitem__(self, key: str) -> V:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __contains__(self, key: object) -> bool:
        return key in self._dict

    def getlist(self, key: str) -> list[V]:
        return [v for k, v in self._list if k == key]

    def multi_items(self) -> list[tuple[str, V]]:
        return list(self._list)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, MultiDict)
        return _same_pairs(self._list, other._list)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._list!r})"


class QueryParams(MultiDict[str]):
    """Multi-valued query parameters, parsed in Rust. ``str()`` gives the
    urlencoded query string; a copy (``QueryParams(other)``) keeps repeated keys."""

    __slots__ = ()

    def __init__(
        self,
        query: str | bytes | Mapping[str, str] | Iterable[tuple[str, str]] = b"",
        *,
        max_fields: int | None = None,
    ) -> None:
        if isinstance(query, str):
            query = query.encode("latin-1")
        if isinstance(query, bytes):
            items = (
                _core.parse_query(query)
                if max_fields is None
                else _core.parse_query(query, max_fields)
            )
        else:
            items = [(str(k), str(v)) for k, v in _pairs(query)]
        self._list = items
        self._dict = dict(items)

    def __str__(self) -> str:
        return urlencode(self._list)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class URL:
    """An immutable URL with the parts a handler needs."""

    __slots__ = ("_parts", "_url")

    def __init__(self, url: str = "") -> None:
        self._url = url
        self._parts: SplitResult | None = None

    @classmethod
    def from_scope(cls, scope: Mapping[str, Any]) -> URL:
        """The request's URL: scheme, ``Host`` header (or the server address), path
        and query. A ``Host`` value that is not a plain ``host[:port]``
        (``is_valid_host``) is ignored in favour of the server address, and a path
        that does not start with ``/`` (``@evil.com/x``, ``http://evil.com/x``) is
        kept a path, so neither can change ``url.hostname``."""
        scheme = scope.get("scheme", "http")
        server = scope.get("server")
        # ASGI: `path` already includes `root_path` (the spec says so since 2023).
        path: str = scope["path"]
        query = scope.get("query_string", b"")
        host: str | None = None
        for name, value in scope.get("headers", ()):
            if name == b"host":
                if len(value) <= MAX_HOST_LENGTH:  # checked before decoding a huge value
                    candidate = value.decode("latin-1")
                    if is_valid_host(candidate):
                        host = candidate
                break
        if host is None and server:
            h, port = str(server[0]), server[1]
            if ":" in h and not h.startswith("["):
                h = f"[{h}]"  # an IPv6 address
            default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
            host = h if port is None or port == default else f"{h}:{port}"
            if not is_valid_host(host):  # e.g. a Unix socket path
                host = None
        if path and not path.startswith("/"):
            path = "/" + path
        if host:
            url = f"{scheme}://{host}{path}"
        else:
            # No authority at all: "//x" would read as one, so keep a single slash.
            url = "/" + path.lstrip("/") if path.startswith("//") else path
        if query:
            url += "?" + query.decode("latin-1")
        return cls(url)

    @property
    def components(self) -> SplitResult:
        if self._parts is None:
            self._parts = urlsplit(self._url)
        return self._parts

    @property
    def scheme(self) -> str:
        return self.components.scheme

    @property
    def netloc(self) -> str:
        return self.components.netloc

    @property
    def path(self) -> str:
        return self.components.path

    @property
    def query(self) -> str:
        return self.components.query

    @property
    def fragment(self) -> str:
        return self.components.fragment

    @property
    def hostname(self) -> str | None:
        return self.components.hostname

    @property
    def port(self) -> int | None:
        return self.components.port

    @property
    def is_secure(self) -> bool:
        return self.scheme in ("https", "wss")

    def replace(self, **kwargs: Any) -> URL:
        return URL(self.components._replace(**kwargs).geturl())

    def __str__(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"URL({self._url!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self._url)


class State:
    """Attribute bag for ``app.state`` and ``request.state``."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        super().__setattr__("_state", state if state is not None else {})

    def __setattr__(self, key: str, value: Any) -> None:
        self._state[key] = value

    def __getattr__(self, key: str) -> Any:
        try:
            return self._state[key]
        except KeyError:
            raise AttributeError(f"'State' object has no attribute {key!r}") from None

    def __delattr__(self, key: str) -> None:
        del self._state[key]


#: File types whose read buffer ``UploadFile.read`` may serve without a thread hop.
_READ_BUFFERED = (io.BufferedRandom, io.BufferedReader)


class UploadFile:
    """A file part of a multipart form.

    The content lives in ``file``, a ``tempfile.SpooledTemporaryFile``: in memory up
    to the spool threshold (``Limits.spool_max_size``), in an anonymous temporary
    file on disk beyond it. The async methods run disk I/O in a worker thread once
    the file has spooled to disk; a ``read`` that the file's read buffer covers is
    no disk I/O and runs inline. The framework closes (and so deletes) every
    upload when the request ends; ``close()`` may also be called earlier.
    """

    __slots__ = ("content_type", "file", "filename", "headers", "size")

    def __init__(
        self,
        file: IO[bytes],
        *,
        size: int | None = None,
        filename: str | None = None,
        headers: Headers | None = None,
        content_type: str | None = None,
    ) -> None:
        self.file = file
        self.size = size
        self.filename = filename
        self.headers = headers if headers is not None else Headers()
        if content_type is None:
            content_type = self.headers.get("content-type")
        self.content_type = content_type

    @property
    def _in_memory(self) -> bool:
        # SpooledTemporaryFile has no public "rolled over" flag; any other file
        # object is treated as on disk.
        return not getattr(self.file, "_rolled", True)

    async def write(self, data: bytes) -> None:
        if self.size is not None:
            self.size += len(data)
        if self._in_memory:
            self.file.write(data)
        else:
            await asyncio.to_thread(self.file.write, data)

    async def read(self, size: int = -1) -> bytes:
        if self._in_memory or 0 <= size <= self._buffered():
            return self.file.read(size)
        return await asyncio.to_thread(self.file.read, size)

    def _buffered(self) -> int:
        """How many bytes past its position the on-disk file has in its read
        buffer: a read that they cover is a copy, no disk I/O, so it needs no
        thread hop (a hop per 64 KiB read dominated reading an upload back)."""
        file = getattr(self.file, "_file", self.file)  # SpooledTemporaryFile's own file
        if type(file) not in _READ_BUFFERED:
            return 0
        try:
            # The raw descriptor is past the position by the buffered bytes (and
            # behind it by unflushed writes). Both calls are lseek(2), no I/O.
            return os.lseek(file.fileno(), 0, os.SEEK_CUR) - file.tell()
        except (OSError, ValueError):
            return 0

    async def seek(self, offset: int) -> None:
        if self._in_memory:
            self.file.seek(offset)
        else:
            await asyncio.to_thread(self.file.seek, offset)

    async def close(self) -> None:
        # Synchronous on purpose: closing an unlinked temporary file is a cheap
        # syscall, and doing it inline means cancellation cannot leave it open.
        self.file.close()

    @property
    def closed(self) -> bool:
        return bool(self.file.closed)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(filename={self.filename!r}, size={self.size!r}, "
            f"content_type={self.content_type!r})"
        )


FormValue = Union[str, UploadFile]


class FormData(MultiDict[FormValue]):
    """An immutable, multi-valued form: text values are ``str``, file parts are
    ``UploadFile``. Like ``QueryParams``, ``form["k"]`` and ``get`` return the last
    value for a repeated key, ``getlist`` returns all of them in order, and a copy
    (``FormData(other)``) keeps repeated keys."""

    __slots__ = ()

    def __init__(
        self, items: Mapping[str, FormValue] | Iterable[tuple[str, FormValue]] = ()
    ) -> None:
        pairs: list[tuple[str, FormValue]] = _pairs(items)
        self._list = pairs
        self._dict = dict(pairs)

    async def close(self) -> None:
        """Closes every ``UploadFile`` in the form."""
        for _, value in self._list:
            if isinstance(value, UploadFile):
                await value.close()
