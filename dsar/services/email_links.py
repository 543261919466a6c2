"""Secret links in emails: what the outbox keeps of them.

Emails carry bearer links: the requester's status page (valid three years), answer downloads, task links,
staff password resets. The database otherwise keeps only hashes of such secrets (tokens.py), so a database
backup must not hold them in the outbox either (issue 12 item 2). An email is therefore stored in two parts:

- ``sealed_body``: what it takes to send the email, links included, encrypted with the file keys
  (DSAR_FILE_KEYS, which are not in the database): its context until the delivery job renders it
  (``email_context``, issue 19 item 7), or, for an email rendered when queued, the email itself. It is erased
  as soon as the email is sent (or given up), in the transaction that marks it sent;
- ``body_text`` / ``body_html``: written by the delivery job when it sends, the body with every secret link
  redacted (``…/status/[redacted]``), kept for the record and readable by anyone who may read the database,
  with ``body_sha256``, the hash of what was sent.

A link is secret when the route it opens takes a ``token`` (every bearer link of the service does:
``/status/<token>``, ``/task/<token>``, ``/download/<token>``, ``/confirm/<token>``,
``/backoffice/password/<token>``). Links to the back-office by reference stay as they are.
"""
from __future__ import annotations

import hashlib
import json
import re

from flask import current_app
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from ..security import encrypt_secret

REDACTED = "[redacted]"
SECRET_ARGUMENTS = frozenset({"token"})


def _links(base: str) -> re.Pattern[str]:
    # A link ends at white space, a quote or an angle bracket (text bodies, and href="…" in HTML ones).
    return re.compile(re.escape(base.rstrip("/")) + r"(/[^\s\"'<>]*)")


def _match(path: str):
    adapter = current_app.url_map.bind("localhost")
    for method in ("GET", "POST"):
        try:
            return adapter.match(path, method=method, return_rule=True)
        except (HTTPException, RequestRedirect):
            continue
    return None


def _redacted_path(path: str) -> str:
    matched = _match(path.split("?", 1)[0].split("#", 1)[0])
    if matched is None:
        # A link to the service that no route takes: nothing tells what it carries, so none of it is kept.
        return "/" + REDACTED
    rule, values = matched
    for name in SECRET_ARGUMENTS & set(rule.arguments):
        secret = str(values.get(name) or "")
        if secret:
            path = path.replace(secret, REDACTED)
    return path


def redact_links(body: str | None) -> str | None:
    """``body`` with the secret part of each of the service's own links replaced by REDACTED."""
    if not body:
        return body
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return _links(base).sub(lambda m: base + _redacted_path(m.group(1)), body)


def seal(text: str, html: str | None) -> str:
    """The email as sent, encrypted with the file keys."""
    return encrypt_secret(json.dumps({"text": text, "html": html}, ensure_ascii=False))


def digest(text: str, html: str | None) -> str:
    """SHA-256 of the email as sent: its text, a NUL, its HTML.

    Line ends and the white space around each part are normalised, as mail transport changes them, so
    that the copy a recipient shows can be checked against it.
    """
    def normal(part: str | None) -> str:
        return "\n".join(line.rstrip() for line in (part or "").strip().splitlines())

    return hashlib.sha256(f"{normal(text)}\0{normal(html)}".encode("utf-8")).hexdigest()
