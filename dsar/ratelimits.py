"""The rate limits' counting strategy: one storage call per limited request, headers included (issue 19).

Flask-Limiter's fixed window counts a request with one ``incr`` and then, to write the X-RateLimit-Remaining
and X-RateLimit-Reset headers, reads the counter and its expiry again (two more Redis calls per request). This
strategy keeps the count the ``incr`` returned for the request (``flask.g``) and the window's end per key in the
process: the end is known without a read when this process opened the window (its first hit), and read once per
window otherwise. Same windows, same limits, same headers.
"""
from __future__ import annotations

import time

from flask import g, has_request_context
from limits.strategies import STRATEGIES, FixedWindowRateLimiter, WindowStats

NAME = "dsar-fixed-window"
_MAX_KEYS = 10_000
_COUNTS = "dsar_ratelimit_counts"


class OneCallFixedWindow(FixedWindowRateLimiter):
    def __init__(self, storage):
        super().__init__(storage)
        self._window_ends: dict[str, float] = {}

    def hit(self, item, *identifiers: str, cost: int = 1) -> bool:
        key = item.key_for(*identifiers)
        count = self.storage.incr(key, item.get_expiry(), amount=cost)
        if count == cost:  # this hit created the counter: its window starts now
            if len(self._window_ends) >= _MAX_KEYS:
                self._window_ends.clear()
            self._window_ends[key] = time.time() + item.get_expiry()
        if has_request_context():
            g.setdefault(_COUNTS, {})[key] = count
        return count <= item.amount

    def get_window_stats(self, item, *identifiers: str) -> WindowStats:
        key = item.key_for(*identifiers)
        counts = g.get(_COUNTS, {}) if has_request_context() else {}
        if key not in counts:
            return super().get_window_stats(item, *identifiers)
        end = self._window_ends.get(key)
        if end is None or end <= time.time():
            end = self.storage.get_expiry(key)
            self._window_ends[key] = end
        return WindowStats(end, max(0, item.amount - counts[key]))


STRATEGIES[NAME] = OneCallFixedWindow
