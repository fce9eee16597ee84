"""Take the client address, scheme and host from ``X-Forwarded-*`` headers, but only
from proxies you trust.

Behind a reverse proxy (nginx, a load balancer, a CDN) the server sees the proxy's
address, plain ``http`` and whatever host the proxy used. The proxy reports the
original values in ``X-Forwarded-For``, ``X-Forwarded-Proto`` and
``X-Forwarded-Host``, but any client can send those headers too, so they are read
only when the direct peer (``scope["client"]``) is one of ``trusted_hosts``::

    app = ProxyHeadersMiddleware(app, trusted_hosts=["127.0.0.1", "10.0.0.0/8"])

- ``X-Forwarded-For``: each proxy appends the address it received the request from,
  so the list is read from the right, skipping trusted proxies; the first address
  that is not trusted is the client (a client-supplied entry further left is never
  reached). When every entry is trusted, the leftmost is the client. An entry that
  is not an IP address (``unknown``, garbage) stops the walk: the client is then the
  last trusted hop, the nearest address known for sure. ``scope["client"]`` becomes
  ``(address, port)`` (port 0 when the header has none).
- ``X-Forwarded-Proto``: ``http`` or ``https`` (``ws``/``wss`` are accepted too)
  sets ``scope["scheme"]`` (``ws``/``wss`` for WebSocket connections). With several
  comma-separated values, the rightmost (the one the trusted peer set) is used.
- ``X-Forwarded-Host``: replaces the ``Host`` header when it is a plain
  ``host[:port]`` (``covet.datastructures.is_valid_host``: no CR/LF, slash, space,
  userinfo; at most 259 bytes); the rightmost value is used; anything else is
  ignored.

The scope is updated in place, so everything after this middleware, and the
server's own access log, sees the resolved values: ``request.client``,
``request.url``, ``url_for``, ``RateLimitMiddleware``'s default key and
``HTTPSRedirectMiddleware``. Put it first (outermost) in the stack. Read the client
from ``request.client``, never from the raw headers, which stay as the client sent
them.

``trusted_hosts`` takes IP addresses and CIDR networks (``ipaddress`` syntax,
IPv4 and IPv6); nothing is trusted by default. ``"*"`` trusts every peer: only safe
when nothing but the proxy can reach the server (e.g. a Unix socket, or a port
firewalled to the proxy), because any client could then set its own address,
scheme and host. A peer without an address (a Unix socket connection) is trusted
only with ``"*"``. Do not combine it with uvicorn's ``--proxy-headers`` (on by
default for 127.0.0.1): run uvicorn with ``--no-proxy-headers`` so only one
component decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Union

from covet.datastructures import is_valid_host
from covet.middleware._asgi import ASGIApp, Receive, Scope, Send

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

_SECURE = {"http": False, "https": True, "ws": False, "wss": True}


def parse_forwarded_address(value: str) -> tuple[IPAddress, int] | None:
    """``(address, port)`` from one ``X-Forwarded-For`` entry: ``1.2.3.4``,
    ``1.2.3.4:5678``, ``2001:db8::1`` or ``[2001:db8::1]:5678``; None when the entry
    is not an IP address (with an optional valid port)."""
    value = value.strip()
    port = 0
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep:
            return None
        if rest:
            if not rest.startswith(":"):
                return None
            parsed_port = _port(rest[1:])
            if parsed_port is None:
                return None
            port = parsed_port
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
        parsed_port = _port(port_text)
        if parsed_port is None:
            return None
        port = parsed_port
    else:
        host = value
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return address, port


def _port(text: str) -> int | None:
    if not (0 < len(text) <= 5 and text.isascii() and text.isdigit()):
        return None
    port = int(text)
    return port if port <= 65535 else None


class ProxyHeadersMiddleware:
    """Resolve the client address, scheme and host from ``X-Forwarded-For``,
    ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` sent by a trusted proxy.

    - ``trusted_hosts``: IP addresses and CIDR networks whose ``X-Forwarded-*``
      headers are believed, as a list or a comma-separated string. Default: none.
      ``"*"`` trusts everyone (dangerous unless only the proxy can connect).

    An entry that is neither an address nor a network raises ``ValueError``.
    """

    def __init__(self, app: ASGIApp, trusted_hosts: Iterable[str] | str = ()) -> None:
        if isinstance(trusted_hosts, str):
            trusted_hosts = [h for h in trusted_hosts.split(",") if h.strip()]
        addresses: set[IPAddress] = set()
        networks: list[IPNetwork] = []
        trust_all = False
        for entry in trusted_hosts:
            entry = entry.strip()
            if entry == "*":
                trust_all = True
            elif "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(f"trusted_hosts: {entry!r} is not a CIDR network") from None
            else:
                try:
                    addresses.add(ipaddress.ip_address(entry))
                except ValueError:
                    raise ValueError(
                        f"trusted_hosts: {entry!r} is not an IP address or CIDR network "
                        "(use '*' to trust every peer)"
                    ) from None
        self.app = app
        self.trust_all = trust_all
        self._addresses = frozenset(addresses)
        self._networks = tuple(networks)

    def is_trusted(self, address: IPAddress) -> bool:
        if self.trust_all or address in self._addresses:
            return True
        # An IPv4 peer may be reported as an IPv4-mapped IPv6 address (::ffff:a.b.c.d).
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return self.is_trusted(address.ipv4_mapped)
        return any(address in network for network in self._networks)

    def _trusted_peer(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not client:
            return self.trust_all
        try:
            return self.is_trusted(ipaddress.ip_address(client[0]))
        except ValueError:  # a Unix socket path or another non-IP peer name
            return self.trust_all

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if (kind == "http" or kind == "websocket") and self._trusted_peer(scope):
            self._apply(scope)
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope) -> None:
        forwarded_for: list[str] = []
        proto: bytes | None = None
        host: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded_for.extend(value.decode("latin-1").split(","))
            elif name == b"x-forwarded-proto":
                proto = value
            elif name == b"x-forwarded-host":
                host = value
        if forwarded_for:
            client = self.client_from(forwarded_for)
            if client is not None:
                scope["client"] = client
        if proto is not None:
            scheme = proto.decode("latin-1").rsplit(",", 1)[-1].strip().lower()
            secure = _SECURE.get(scheme)
            if secure is not None:
                if scope["type"] == "websocket":
                    scope["scheme"] = "wss" if secure else "ws"
                else:
                    scope["scheme"] = "https" if secure else "http"
        if host is not None:
            value = host.decode("latin-1").rsplit(",", 1)[-1].strip()
            if is_valid_host(value):
                headers = [(n, v) for n, v in scope["headers"] if n != b"host"]
                headers.append((b"host", value.encode("latin-1")))
                scope["headers"] = headers

    def client_from(self, forwarded_for: list[str]) -> tuple[str, int] | None:
        """The client ``(address, port)`` from the ``X-Forwarded-For`` entries (in
        header order), or None to keep the direct peer."""
        last_trusted: tuple[str, int] | None = None
        entries = [entry for entry in forwarded_for if entry.strip()]
        for entry in reversed(entries):
            parsed = parse_forwarded_address(entry)
            if parsed is None:
                # Beyond what a trusted proxy reported: the last trusted hop is the
                # nearest address known for sure (None: keep the direct peer).
                return last_trusted
            address, port = parsed
            if not self.is_trusted(address):
                return str(address), port
            last_trusted = (str(address), port)
        return last_trusted  # every hop trusted: the leftmost one
