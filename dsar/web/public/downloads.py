"""Downloading an answer through the link emailed to the requester (DESIGN.md "Answers").

The link alone is not enough: it opens only in a browser session that also holds the request's
status-page secret, so a forwarded or intercepted email does not give the files away. The session
learns the secret when the person opens their status page (``remember_status_unlocked``) or pastes
their status link into the form this page shows. The session keeps the request id and the status
link's current salt: a status link revoked later locks the downloads again.
"""
from __future__ import annotations

import re
from urllib.parse import quote

from flask import Response, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _, refresh

from ...errors import N_, PermissionDenied
from ...extensions import db, limiter
from ...models import Document
from ...formatting import human_size
from ...services.fulfilment import delivery
from ...tokens import TokenError
from ..common import client_ip, configured_limit, user_agent
from .blueprint import bp
from ...errors import NotFound
from ...services.intake import request_for_status_token

SESSION_KEY = "dsar_unlocked"
#: A session remembers at most this many unlocked requests.
MAX_UNLOCKED = 5
RATE_LIMITS = {"download_page": "30 per minute;300 per hour", "download_unlock": "10 per minute;50 per hour"}
_STATUS_PATH = re.compile(r"/status/([^/?#\s]+)")


def _limit(name: str):
    return configured_limit(name, RATE_LIMITS[name])


def _session_entry(req) -> str | None:
    return f"{req.id}:{req.status_link_salt}" if req.status_link_salt else None


def remember_status_unlocked(req) -> None:
    """Called when a valid status link is opened: this browser may now download the request's answers."""
    entry = _session_entry(req)
    if entry is None:
        return
    unlocked = [e for e in session.get(SESSION_KEY, []) if isinstance(e, str) and e != entry]
    session[SESSION_KEY] = [entry, *unlocked][:MAX_UNLOCKED]


def is_unlocked(req) -> bool:
    entry = _session_entry(req)
    return entry is not None and entry in session.get(SESSION_KEY, [])


def _use_language_of(req) -> None:
    if "lang" not in request.args and session.get("lang") not in current_app.config["LANGUAGES"]:
        g.force_language = req.language
        refresh()


def _status_token_from(text: str) -> str:
    """The status link as pasted (the whole address, or its last part)."""
    text = (text or "").strip()
    found = _STATUS_PATH.search(text)
    return found.group(1) if found else text


def _page(link, token: str, *, status: int = 200, error: str | None = None, value: str = ""):
    req = link.request
    return render_template(
        "public/download.html", link=link, token=token, req=req, unlocked=is_unlocked(req), error=error,
        value=value, expires_on=link.expires_at, files=[
            {**f, "size_label": human_size(f["size"])} for f in link.files
        ],
    ), status


@bp.get("/download/<token>")
@limiter.limit(_limit("download_page"))
def download_GET(token: str):
    link = delivery.link_from_token(token)
    _use_language_of(link.request)
    return _page(link, token)


@bp.post("/download/<token>")
@limiter.limit(_limit("download_unlock"))
def download_POST(token: str):
    """The person pastes their status link: if it is this request's, the downloads open in this browser."""
    link = delivery.link_from_token(token)
    _use_language_of(link.request)
    pasted = request.form.get("status_link", "")
    if not pasted.strip():
        return _page(link, token, status=422, error=_("Paste the status link we sent you."))
    try:
        other = request_for_status_token(_status_token_from(pasted))
    except TokenError:
        return _page(link, token, status=422, value="",
                     error=_("This is not a valid status link. Copy the whole link from the email we sent you."))
    if other.id != link.request_id:
        # Another request's secret opens that request only.
        return _page(link, token, status=403, value="",
                     error=_("This status link belongs to another request: it cannot open this answer."))
    remember_status_unlocked(other)
    return redirect(url_for("public.download_GET", token=token), code=303)


@bp.get("/download/<token>/<int:document_id>")
@limiter.limit(_limit("download_page"))
def download_file_GET(token: str, document_id: int):
    link = delivery.link_from_token(token)
    if not is_unlocked(link.request):
        raise PermissionDenied(N_("Open your status link first (or paste it on the download page): the download "
                                  "link works only together with it."), code="locked")
    return _send(link, document_id)


@bp.get("/status/<token>/answer/<int:link_id>/<int:document_id>")
@limiter.limit(_limit("download_page"))
def status_file_GET(token: str, link_id: int, document_id: int):
    """The requester downloads the answer's files from their status page (issue 18): the status secret is the
    one secret they need; the emailed download link is a second way in, not a second step."""
    req = request_for_status_token(token)
    link = next((l for l in req.download_links if l.id == link_id), None)
    if link is None:
        raise NotFound(N_("This file is not part of this answer."))
    if link.state() != "active":
        raise delivery.LinkGone(N_("This download link has expired. Ask us for a new one."), code="link_expired")
    remember_status_unlocked(req)
    return _send(link, document_id)


def _send(link, document_id: int) -> Response:
    doc = db.session.get(Document, document_id)
    if doc is None:
        raise NotFound(N_("This file is not part of this answer."))
    if doc.size > delivery.STREAM_DOWNLOAD_BYTES:
        # A large pack (collected data, issue 16) is never read whole into the web worker's memory.
        body, size = delivery.stream_download(link, doc, ip=client_ip(), user_agent=user_agent())
    else:
        body = delivery.record_download(link, doc, ip=client_ip(), user_agent=user_agent())
        size = len(body)
    db.session.commit()
    name = doc.display_name
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "file"
    response = Response(body, mimetype=doc.mime, direct_passthrough=not isinstance(body, bytes))
    response.headers["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    response.headers["Content-Length"] = str(size)
    return response


@bp.app_template_global()
def answer_downloads(req) -> list[dict]:
    """For the status page (templates/public/_downloads.html): what was sent, until when, and in what state."""
    rows = []
    for link in getattr(req, "download_links", []) or []:
        state = link.state()
        rows.append({"link": link, "state": state, "files": [
            {**f, "size_label": human_size(f["size"])} for f in link.files]})
    return rows
