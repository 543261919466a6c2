"""Waiting in tests without fixed sleeps: poll with a deadline (or move the clock with time_machine instead).

``wait_until`` returns as soon as what is awaited has happened; ``holds`` checks that what must not happen does not,
failing at the first sign of it. Their timeouts are ceilings, not durations: a passing test never waits them out,
except ``holds``, whose window is the point.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, *, interval: float = 0.05, what: str = "") -> T:
    """Poll ``predicate`` until it returns something true and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what or predicate}"
        time.sleep(interval)


def holds(predicate: Callable[[], object], during: float = 0.3, *, interval: float = 0.05, what: str = "") -> None:
    """Check that ``predicate`` stays true for ``during`` seconds (nothing late arrives), failing as soon as it is not.

    For what must not happen after an action that has returned (a second email, a delivery after a rollback).
    """
    deadline = time.monotonic() + during
    while True:
        assert predicate(), f"no longer true: {what or predicate}"
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)
