"""Rate limits cost one storage call per request, headers included (issue 19: no second Redis read)."""
from __future__ import annotations

import collections

from api_support import bearer, make_key
from limits.storage import MemoryStorage

from dsar.extensions import limiter


def test_the_headers_come_from_the_requests_own_hit(make_app, monkeypatch):
    app = make_app(RATELIMIT_ENABLED=True, DSAR_API_RATE_LIMIT="100 per minute",
                   DSAR_API_AUTH_FAILURE_LIMIT="100 per minute")
    with app.app_context():
        _check(app, monkeypatch)


def _check(app, monkeypatch):
    client = app.test_client()
    _, secret = make_key("read")
    # Spied on the storage classes, not on one instance: the extension is shared by every app of this process and
    # may answer from its in-memory fallback storage (after an earlier test's Redis outage) or from the main one.
    calls: collections.Counter = collections.Counter()
    classes = {type(limiter.storage), MemoryStorage}
    for cls in classes:
        for name in ("incr", "get", "get_expiry"):
            original = getattr(cls, name)

            def spy(self, *args, _name=name, _original=original, **kwargs):
                calls[_name] += 1
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(cls, name, spy)
    first = client.get("/api/v1/requests", headers=bearer(secret))
    second = client.get("/api/v1/requests", headers=bearer(secret))
    assert first.status_code == second.status_code == 200
    limit = int(first.headers["X-RateLimit-Limit"])
    assert int(first.headers["X-RateLimit-Remaining"]) == limit - 1
    assert int(second.headers["X-RateLimit-Remaining"]) == limit - 2
    assert int(second.headers["X-RateLimit-Reset"]) >= int(first.headers["X-RateLimit-Reset"]) - 1
    # Per request: the key's counter incremented; the failure limit (counted only on a failure) tested with a get;
    # the headers' figures from the increment itself (before: a get and a get_expiry more per request).
    assert calls == {"incr": 2, "get": 2}, calls
