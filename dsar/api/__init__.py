"""The JSON API under /api/v1 (flask-smorest), its OpenAPI 3 document and its documentation page.

- ``/api/v1/openapi.json``: the OpenAPI document; ``/api/v1/docs``: the same, as a page.
- ``/api/v1/requests``: submit, read, list, act (dsar/api/requests.py);
- ``/api/v1/directory``: sync professionals and care links (dsar/api/directory.py);
- ``/api/v1/opendsr``: the OpenDSR endpoint (dsar/api/opendsr.py).

Machine clients only: a bearer API key on every call, no cookie, no session,
no CSRF token; limits per key (Flask-Limiter). Errors are JSON in one shape
(dsar/api/errors.py), in the language of Accept-Language (French by default).
"""
from __future__ import annotations

import os

from flask import current_app, g, request
from flask_limiter.util import get_remote_address
from flask_smorest import Api

from werkzeug.exceptions import HTTPException

from ..errors import DomainError
from ..extensions import csrf, db, limiter
# The webhooks and the OpenDSR callbacks subscribe to the lifecycle's status changes when imported.
from ..services import opendsr as _opendsr_callbacks, webhooks as _webhooks  # noqa: F401
from ..web.common import translate_error
from . import auth, directory, docs, errors, opendsr, requests, suppression
from .errors import ErrorSchema, http_error, json_error, use_client_language
from .opendsr import SubjectRequestIdConverter, subject_request_id_parameter

API_MAX_BODY_BYTES = 2 * 1024 * 1024   # a directory batch of 5,000 links fits; nothing the API takes is bigger

DESCRIPTION = """\
The API of dsar, for the controller's application and for automation.

**Authentication.** Every call carries an API key: `Authorization: Bearer dsar_…`. Keys are created by an admin
(`dsar create-api-key` or the back-office), shown once and stored hashed. A key holds scopes:
`submit` (create requests), `read` (read requests), `staff` (act on requests as the back-office does, with an
agent's rights; set `received_at`), `directory` (sync professionals and patient links). A missing, wrong or revoked
key is a 401; a key without the scope needed is a 403.

**Errors.** Every error is `{"error": code, "message": text, "fields": {path: [text]}}` with a 4xx status; the
message is in the language of `Accept-Language` (French by default). A field the API does not know is an error,
never ignored. An action the request's status does not allow is a 409 and changes nothing.

**Dates.** Legal days (`clock_started_on`, `due_date` …) are `YYYY-MM-DD` in Europe/Paris; instants are
ISO 8601 in UTC.

**Webhooks.** Status changes are POSTed, signed, to the receivers an admin registered; see the documentation page.
"""


class DsarApi(Api):
    """flask-smorest, with dsar's error shape and without an app-wide error handler.

    The app-wide handlers (dsar/web/common.py) give pages their HTML error pages
    and stay in place; the API's blueprints carry their own JSON handlers.
    """

    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None   # every answer an operation can give is listed with it

    def _register_error_handlers(self):
        pass


def _api_limit() -> str:
    return current_app.config["DSAR_API_RATE_LIMIT"]


def _auth_failure_limit() -> str:
    return current_app.config["DSAR_API_AUTH_FAILURE_LIMIT"]


# Per key for every call; per client address for failed authentications (key guessing). The failure limit
# only ever slows failures: a call with a valid key is exempt from it, so that a stranger's wrong keys from a
# shared address (a NAT, a proxy) never lock out the application's real key.
_per_key = limiter.shared_limit(_api_limit, scope="api", key_func=auth.rate_limit_key)
_failures = limiter.shared_limit(_auth_failure_limit, scope=errors.AUTH_FAILURE_SCOPE, key_func=get_remote_address,
                                 exempt_when=auth.presents_valid_key,
                                 deduct_when=lambda response: response.status_code == 401)


def _before_api_request():
    use_client_language()
    request.max_content_length = min(API_MAX_BODY_BYTES, current_app.config["MAX_CONTENT_LENGTH"] or API_MAX_BODY_BYTES)


def _api_domain_error(err):
    """Domain errors, with every field at fault (intake reports all its problems at once)."""
    db.session.rollback()
    fields: dict[str, list[str]] = {}
    for problem in getattr(err, "problems", None) or [err]:
        if problem.field:
            fields.setdefault(problem.field, []).append(translate_error(problem))
    return json_error(err.status_code, err.code, translate_error(err), fields)


def _after_api_request(exc=None):
    # The language chosen for this call must not outlive it (an app context may be shared: tests, jobs).
    g.pop("force_language", None)


def _prepare(bp, *, json_errors: bool = True):
    bp.before_request(_before_api_request)
    bp.teardown_request(_after_api_request)
    if json_errors:
        bp.register_error_handler(HTTPException, http_error)
        bp.register_error_handler(DomainError, _api_domain_error)
    _per_key(bp)
    _failures(bp)


def _blueprints():
    return [requests.bp, directory.bp, opendsr.bp, suppression.bp], docs.bp


def _prepare_once():
    api_bps, docs_bp = _blueprints()
    if getattr(docs_bp, "_dsar_prepared", False):
        return
    for bp in api_bps:
        _prepare(bp, json_errors=bp.name != "opendsr")  # OpenDSR answers errors in its own shape (spec §7.6)
    docs_bp.before_request(_before_api_request)
    docs_bp.teardown_request(_after_api_request)
    docs_bp._dsar_prepared = True


def _settings(app) -> None:
    """The API's settings, from the environment when not given to create_app."""
    defaults = {
        "DSAR_API_RATE_LIMIT": "600 per minute",
        "DSAR_API_AUTH_FAILURE_LIMIT": "30 per minute",
        "DSAR_OPENDSR_SIGNING_KEY": None,
        "DSAR_OPENDSR_CERTIFICATE": None,
        "DSAR_OPENDSR_CALLBACK_HOSTS": "",
    }
    for name, default in defaults.items():
        if name not in app.config:
            app.config[name] = os.environ.get(name) or default
    hosts = app.config["DSAR_OPENDSR_CALLBACK_HOSTS"]
    if isinstance(hosts, str):
        hosts = [h for h in hosts.split(",")]
    app.config["DSAR_OPENDSR_CALLBACK_HOSTS"] = tuple(h.strip().lower() for h in hosts if h and h.strip())
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("API_SPEC_OPTIONS", {"info": {"description": DESCRIPTION}})
    if app.config["DSAR_ENV"] == "development" and not app.config["DSAR_OPENDSR_SIGNING_KEY"]:
        _development_opendsr_key(app)


def _development_opendsr_key(app) -> None:
    """Development only: a self-signed key for the OpenDSR endpoint (spec §4.1 forbids self-signed in production)."""
    from datetime import datetime, timedelta, timezone
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    folder = Path(app.instance_path) / "opendsr"
    key_path, cert_path = folder / "dev-key.pem", folder / "dev-cert.pem"
    if not key_path.exists() or not cert_path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.now(timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + timedelta(days=3650)).sign(key, hashes.SHA256()))
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    app.config["DSAR_OPENDSR_SIGNING_KEY"] = str(key_path)
    app.config["DSAR_OPENDSR_CERTIFICATE"] = str(cert_path)


def register_api(app) -> None:
    """Attach the API, its OpenAPI document and its documentation page to ``app``."""
    _settings(app)
    _prepare_once()
    app.url_map.converters["opendsr_id"] = SubjectRequestIdConverter
    api = DsarApi(app)
    api.register_converter(SubjectRequestIdConverter, subject_request_id_parameter)
    api.spec.components.security_scheme("bearerAuth", {
        "type": "http", "scheme": "bearer",
        "description": "An API key: dsar_<prefix>_<secret>. Scopes: submit, read, staff, directory, suppression."})
    api_bps, docs_bp = _blueprints()
    for bp in api_bps:
        api.register_blueprint(bp)
        csrf.exempt(bp)
    app.register_blueprint(docs_bp)
    app.extensions["dsar_api"] = api
