"""Issue 12 item 8: the logs name the route pattern, never the path that carries a bearer token.

A status link is valid for three years (tokens.STATUS_LINK_MAX_AGE): a log line holding it is a live key to a
requester's answers for whoever reads the logs.
"""
import logging
import re
import threading
import urllib.request

import pytest
from werkzeug.serving import make_server

from dsar.web import public
from public_support import web_request


def test_an_unexpected_error_on_a_token_page_logs_the_route_pattern_not_the_token(app, client, caplog, monkeypatch):
    req, token = web_request()

    def broken(_token):
        raise RuntimeError("boom")

    monkeypatch.setattr(public.views.intake, "request_for_status_token", broken)
    with caplog.at_level(logging.INFO):
        res = client.get(f"/status/{token}?lang=fr")
    assert res.status_code == 500
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "unexpected RuntimeError on GET /status/<token>" in logged
    assert token not in logged and token[:12] not in logged


@pytest.fixture
def dev_server(app):
    """The development server (werkzeug, as `dsar run` starts it) serving the app on a free port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as res:
            return res.status
    except urllib.error.HTTPError as err:
        return err.code


def test_the_development_access_log_shows_route_patterns_and_no_token(app, dev_server, caplog):
    req, token = web_request()
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        assert _get(f"{dev_server}/status/{token}") == 200
        assert _get(f"{dev_server}/backoffice/password/{token}x") == 400     # a bad reset link still has a route
        assert _get(f"{dev_server}/status/{token}/nothing-here?k={token}") == 404
    # werkzeug colours the request line by status when it writes to a terminal: compare without the colours.
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", r.getMessage()) for r in caplog.records if r.name == "werkzeug"]
    assert len(lines) == 3, lines
    assert '"GET /status/<token> HTTP/1.1" 200' in lines[0]
    assert '"GET /backoffice/password/<token> HTTP/1.1" 400' in lines[1]
    assert '"GET (no route) HTTP/1.1" 404' in lines[2]
    assert not any(token[:12] in line for line in lines)
