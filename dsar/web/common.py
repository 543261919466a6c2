"""What every page shares: security headers, error pages, the client's address, public URLs."""
from __future__ import annotations

import logging

from flask import Flask, Request, current_app, g, jsonify, make_response, render_template, request
from flask_babel import get_locale, gettext
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from ..errors import DomainError, N_
from ..extensions import db, login_manager
from ..models import Staff
from ..urls import public_url  # noqa: F401 - re-exported for the views
from .request_log import install_access_log_filter, route_pattern

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; frame-src 'self'"
)


def configured_limit(name: str, default: str):
    """A Flask-Limiter limit the operator may override: config or environment DSAR_RATE_LIMIT_<NAME>."""
    key = f"DSAR_RATE_LIMIT_{name.upper()}"
    return lambda: current_app.config.get(key, default)


def client_ip() -> str | None:
    """The client's address as seen by the WSGI server (put ProxyFix in front when behind a proxy)."""
    return request.remote_addr


def user_agent() -> str | None:
    ua = request.headers.get("User-Agent")
    return ua[:300] if ua else None


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


STATUS_LABELS = {
    "unconfirmed": N_("waiting for email confirmation"),
    "awaiting_identity": N_("waiting for an identity document"),
    "identity_review": N_("identity being checked"),
    "open": N_("open"),
    "in_progress": N_("in progress"),
    "awaiting_requester": N_("waiting for the requester's answer"),
    "answered": N_("answered"),
    "closed": N_("closed"),
    "withdrawn": N_("withdrawn"),
    "refused": N_("refused"),
}


def current_language() -> str:
    """The language of this request's pages and messages ("fr" or "en"; French when none was chosen)."""
    return str(get_locale() or "fr")


def status_label(status: str) -> str:
    """The status in plain words, in the current language."""
    return gettext(STATUS_LABELS[status]) if status in STATUS_LABELS else status


def translate_error(err: DomainError) -> str:
    text = gettext(err.message)
    if err.params:
        params = dict(err.params)
        if "status" in params:
            params["status"] = status_label(params["status"])
        try:
            text = text % params
        except (KeyError, TypeError, ValueError):
            pass
    return text


def error_response(status: int, code: str, message: str, fields: dict | None = None):
    if wants_json():
        return jsonify(error=code, message=message, fields=fields or {}), status
    return render_template("error.html", status=status, code=code, message=message), status


def _load_staff(user_id: str):
    """Flask-Login: "id:epoch"; a bumped epoch (reset, disable) ends every open session."""
    staff_id, _, epoch = (user_id or "").partition(":")
    if not staff_id.isdigit() or not epoch.isdigit():
        return None
    staff = db.session.get(Staff, int(staff_id))
    if staff is None or not staff.active or staff.session_epoch != int(epoch):
        return None
    return staff


class BoundedRequest(Request):
    """A request whose body without a Content-Length (chunked) is refused whole when it reaches the limit.

    Werkzeug reads such a body up to ``max_content_length`` and then stops without an error, so a form or a
    JSON body cut at the limit would reach the view. Past the limit, the answer is a 413, as for a body
    that declared its length.
    """

    def _refuse_if_cut(self) -> None:
        from werkzeug.exceptions import RequestEntityTooLarge
        from werkzeug.wsgi import LimitedStream

        stream = self.__dict__.get("stream")
        if self.content_length is None and isinstance(stream, LimitedStream) and stream.is_exhausted:
            raise RequestEntityTooLarge()

    def _load_form_data(self) -> None:
        super()._load_form_data()
        self._refuse_if_cut()

    def get_data(self, *args, **kwargs):
        data = super().get_data(*args, **kwargs)
        self._refuse_if_cut()
        return data


def init_common(app: Flask) -> None:
    app.request_class = BoundedRequest
    login_manager.user_loader(_load_staff)
    install_access_log_filter(app)

    @app.after_request
    def security_headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "no-referrer")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if not app.config["DSAR_ENV"] == "development":
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint and not request.endpoint.startswith("static"):
            # Pages hold personal data: no cache may keep them.
            h.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(DomainError)
    def domain_error(err: DomainError):
        db.session.rollback()
        fields = {err.field: [translate_error(err)]} if err.field else {}
        return error_response(err.status_code, err.code, translate_error(err), fields)

    @app.errorhandler(StaleDataError)
    def stale(err):
        db.session.rollback()
        return error_response(409, "conflict", gettext(N_(
            "This request was changed by someone else while you were looking at it. Reload the page to see the change.")))

    @app.errorhandler(CSRFError)
    def csrf_error(err):
        return error_response(400, "csrf", gettext(N_("Your form expired or was not sent from this site. Reload the page and try again.")))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        messages = {
            400: N_("The request could not be understood."),
            401: N_("You need to sign in."),
            403: N_("You are not allowed to see this page."),
            404: N_("This page does not exist."),
            405: N_("This method is not allowed here."),
            409: N_("This action conflicts with the current state of the request."),
            410: N_("This link has expired."),
            413: N_("The file or form is too large."),
            422: N_("Some fields are not valid."),
            429: N_("Too many attempts. Please wait a moment and try again."),
        }
        message = gettext(messages.get(err.code, N_("Something went wrong.")))
        code = (err.name or "error").lower().replace(" ", "_")
        response = make_response(error_response(err.code or 500, code, message))
        if err.code == 405 and getattr(err, "valid_methods", None):
            response.headers["Allow"] = ", ".join(err.valid_methods)   # RFC 9110 §15.5.6
        return response

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.DisconnectionError)
    def database_unavailable(err):
        # The database went away (restart, failover): the transaction rolled back whole, so nothing was
        # saved; say so with a 503 that clients may retry, rather than a 500.
        log.warning("database unavailable on %s %s: %s", request.method, route_pattern(), type(err).__name__)
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the connection is already gone
            pass
        response = make_response(error_response(503, "unavailable", gettext(N_(
            "The service is briefly unavailable. Nothing was saved; please try again in a moment."))))
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def unexpected(err):
        # Log the class and the route pattern only: exception texts can carry submitted values, and the
        # raw path carries bearer tokens (/status/<token>, /download/<token> …).
        log.error("unexpected %s on %s %s", type(err).__name__, request.method, route_pattern(), exc_info=app.debug)
        db.session.rollback()
        return error_response(500, "server_error", gettext(N_("Something went wrong on our side. Nothing was saved; please try again later.")))

    @app.context_processor
    def template_globals():
        return {
            "current_language": current_language(),
            "controller": getattr(current_app.extensions.get("dsar_policy"), "controller", None),
            "dsar_env": current_app.config["DSAR_ENV"],
        }

    app.jinja_env.filters["status_label"] = status_label

    @app.before_request
    def remember_start():
        g.setdefault("force_language", None)
        # Flask-Babel caches the locale on the app context, which a request shares with an enclosing
        # one (tests, jobs): choose the language afresh for every request.
        from flask_babel import refresh

        refresh()
