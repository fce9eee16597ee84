"""The parsing in benches/server_cache.py: callgrind's totals and simulated caches,
and the HTTP responses it reads off a keep-alive connection."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benches"))

import server_cache

DUMP = """version: 1
desc: I1 cache: 65536 B, 64 B, 8-way associative
desc: D1 cache: 49152 B, 64 B, 12-way associative
desc: LL cache: 8388608 B, 64 B, direct-mapped
cmd: python -m uvicorn
events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
summary: 1000 300 200 40 20 10 5 2 1
"""


def test_totals_pair_each_event_with_its_count() -> None:
    totals = server_cache.totals(DUMP)
    assert totals["Ir"] == 1000 and totals["I1mr"] == 40 and totals["D1mr"] == 20
    assert server_cache.caches(DUMP) == [
        "I1 cache: 65536 B, 64 B, 8-way associative",
        "D1 cache: 49152 B, 64 B, 12-way associative",
    ]


def test_a_dump_without_a_summary_is_refused() -> None:
    with pytest.raises(RuntimeError, match="no events or summary"):
        server_cache.totals("events: Ir\n")


def test_responses_split_across_reads_and_run_together_are_each_checked() -> None:
    ok = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nHello, World!"
    client, server = socket.socketpair()
    with client, server:
        # Two responses: the first split inside its headers, the second glued on.
        server.sendall(ok[:10])
        server.sendall(ok[10:] + ok)
        rest = server_cache.read_response(client, b"")
        assert server_cache.read_response(client, rest) == b""
        server.sendall(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
        with pytest.raises(RuntimeError, match="unexpected response"):
            server_cache.read_response(client, b"")
