"""Loopback helpers shared by the harness and the tests (a module of its own: `from conftest import …`
is ambiguous once tests/browser/conftest.py is collected in the same run)."""
from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
