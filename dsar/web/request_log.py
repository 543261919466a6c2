"""What the logs say about a request: its route pattern, never the path it came on.

Paths carry bearer secrets (``/status/<token>``, ``/task/<token>``, ``/download/<token>``,
``/backoffice/password/<token>``): whoever reads the logs, or a log shipper's index, would hold live links.
So an error line names the rule (``/status/<token>``) and the development server's access log is
rewritten the same way before it is written.
"""
from __future__ import annotations

import logging
import re

from flask import Flask, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, RequestRedirect

UNMATCHED = "(no route)"

# The request line inside werkzeug's access-log message, possibly wrapped in ANSI colour codes:
# '"GET /status/abc?x=1 HTTP/1.1" 200 -'.
_REQUEST_LINE = re.compile(r"(?P<method>[A-Z]{3,10}) (?P<target>\S+) (?P<version>HTTP/\d(?:\.\d)?)")


def route_pattern() -> str:
    """The current request's route, as declared (``/status/<token>``), or UNMATCHED for a path no route has."""
    rule = getattr(request, "url_rule", None)
    return rule.rule if rule is not None else UNMATCHED


def pattern_of(url_map: Map, method: str, target: str) -> str:
    """The route pattern a raw request target matches; UNMATCHED when none does (its path may still hold a secret)."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        return UNMATCHED
    try:
        rule, _ = url_map.bind("localhost").match(path, method=method, return_rule=True)
    except (HTTPException, RequestRedirect):   # 404, 405, and the trailing-slash redirect
        return UNMATCHED
    return rule.rule


class RoutePatternFilter(logging.Filter):
    """Rewrites the request line of werkzeug's access log to the route pattern, dropping the query string."""

    def __init__(self, url_map: Map):
        super().__init__("dsar.request_log")
        self.url_map = url_map

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        rewritten = _REQUEST_LINE.sub(
            lambda m: f"{m['method']} {pattern_of(self.url_map, m['method'], m['target'])} {m['version']}", message)
        if rewritten != message:
            record.msg, record.args = rewritten, ()
        return True


def install_access_log_filter(app: Flask) -> None:
    """Put the filter on werkzeug's logger (the development server's access log), bound to this app's routes.

    The logger is global and a process serves one app; a filter left by an app built earlier is replaced.
    """
    logger = logging.getLogger("werkzeug")
    for old in [f for f in logger.filters if isinstance(f, RoutePatternFilter)]:
        logger.removeFilter(old)
    logger.addFilter(RoutePatternFilter(app.url_map))
