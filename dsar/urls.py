"""Absolute public URLs, for emails, letters and callbacks: built outside any HTTP request.

It lives below the services (which put links in emails) and the web layer (which serves them), so that neither
has to import the other: the URL map is the application's, reached through ``current_app``.
"""
from __future__ import annotations

from flask import current_app


def public_url(endpoint: str, **values) -> str:
    """An absolute URL on the public base address (``PUBLIC_BASE_URL``), usable in emails and outside a request."""
    adapter = current_app.url_map.bind("localhost", script_name="/", url_scheme="https")
    path = adapter.build(endpoint, values, force_external=False)
    return current_app.config["PUBLIC_BASE_URL"] + path
