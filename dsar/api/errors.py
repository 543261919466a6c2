"""Errors of the JSON API: one shape, ``{"error": code, "message": text, "fields": {path: [text]}}``, translated.

Domain errors already get this shape from ``dsar.web.common``; this module gives
it to webargs' validation errors (422 with the fields at fault, nested paths
dotted: ``subject.email``), to 401/403/404/405/409/413/429, and translates
marshmallow's English messages into the client's language (Accept-Language).
"""
from __future__ import annotations

import re

import marshmallow as ma
from flask import jsonify
from flask_babel import gettext
from werkzeug.exceptions import HTTPException

from ..errors import N_

# marshmallow's and webargs' fixed messages, marked for the catalogue.
FIXED_MESSAGES = {
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Unknown field."),
    N_("Not a valid email address."),
    N_("Not a valid string."),
    N_("Not a valid integer."),
    N_("Not a valid boolean."),
    N_("Not a valid date."),
    N_("Not a valid datetime."),
    N_("Not a valid aware datetime."),
    N_("Not a valid URL."),
    N_("Not a valid UUID."),
    N_("Not a valid list."),
    N_("Not a valid mapping type."),
    N_("Invalid input type."),
    N_("Invalid value."),
    N_("Invalid JSON body."),
    N_("Invalid input."),
    N_("Not a valid number."),
}
# Messages with values in them: (pattern, msgid with named placeholders).
PATTERNS = [
    (re.compile(r"^Enter a date between (?P<first>[0-9-]+) and (?P<last>[0-9-]+)\.$"),
     N_("Enter a date between %(first)s and %(last)s.")),
    (re.compile(r"^Must be one of: (?P<choices>.*)\.$"), N_("Must be one of: %(choices)s.")),
    (re.compile(r"^Length must be between (?P<min>\d+) and (?P<max>\d+)\.$"),
     N_("Length must be between %(min)s and %(max)s.")),
    (re.compile(r"^Shorter than minimum length (?P<min>\d+)\.$"), N_("Shorter than minimum length %(min)s.")),
    (re.compile(r"^Longer than maximum length (?P<max>\d+)\.$"), N_("Longer than maximum length %(max)s.")),
    (re.compile(r"^Must be greater than or equal to (?P<min>-?\d+) and less than or equal to (?P<max>-?\d+)\.$"),
     N_("Must be greater than or equal to %(min)s and less than or equal to %(max)s.")),
    (re.compile(r"^Must be greater than or equal to (?P<min>-?\d+)\.$"), N_("Must be greater than or equal to %(min)s.")),
    (re.compile(r"^Must be less than or equal to (?P<max>-?\d+)\.$"), N_("Must be less than or equal to %(max)s.")),
]

AUTH_FAILURE_SCOPE = "api-auth-failures"   # Flask-Limiter's scope of the failed-authentication limit
AUTH_FAILURES_MESSAGE = N_("Too many failed authentications from this address. Wait a moment and try again "
                           "with a valid API key.")

HTTP_MESSAGES = {
    400: N_("The request could not be understood."),
    401: N_("An API key is needed: send it as Authorization: Bearer <key>."),
    403: N_("This API key may not do this."),
    404: N_("Nothing was found at this address."),
    405: N_("This method is not allowed here."),
    409: N_("This action conflicts with the current state of the request."),
    413: N_("The request body is too large."),
    415: N_("Send the body as application/json."),
    422: N_("Some fields are not valid."),
    429: N_("Too many requests for this API key. Wait a moment and try again."),
}


class ErrorSchema(ma.Schema):
    """Every API error (documentation only: errors are built by ``json_error``)."""

    error = ma.fields.String(required=True, metadata={"description": "A stable code, e.g. invalid_input, forbidden, illegal_transition"})
    message = ma.fields.String(required=True, metadata={"description": "What went wrong, in the client's language (Accept-Language; French by default)"})
    fields = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()), required=True,
        metadata={"description": "Messages per field at fault, by dotted path (e.g. subject.email); empty when no field is at fault"},
    )


def use_client_language() -> None:
    """Answer in the language of Accept-Language (French by default): the API never reads or sets a session."""
    from flask import current_app, g, request
    from flask_babel import refresh

    languages = current_app.config["LANGUAGES"]
    chosen = request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]
    g.force_language = chosen
    refresh()


ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON",
    401: "No key, a wrong key or a revoked key",
    403: "The key lacks the scope",
    404: "Nothing with this identifier",
    409: "Not possible in the current state",
    413: "The body is larger than 2 MiB",
    429: "Too many calls for this key (or failed authentications from this address); see Retry-After",
}


def document_errors(bp, *statuses: int, schema=ErrorSchema):
    """Document error answers of an operation (they are produced by the handlers, not by the view)."""

    def decorator(view):
        for status in statuses:
            view = bp.alt_response(status, schema=schema, description=ERROR_DESCRIPTIONS[status])(view)
        return view

    return decorator


def translate_message(text: str) -> str:
    if text in FIXED_MESSAGES:
        return gettext(text)
    for pattern, msgid in PATTERNS:
        m = pattern.match(text)
        if m:
            return gettext(msgid) % m.groupdict()
    return gettext(text)


def flatten(messages, prefix: str = "") -> dict[str, list[str]]:
    """webargs/marshmallow nested errors → {"subject.email": ["…"]}, translated; the location level is dropped."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            key = str(key)
            if not prefix and key in {"json", "query", "path", "headers", "form", "view_args"}:
                path = ""
            else:
                path = f"{prefix}.{key}" if prefix else key
            for k, v in flatten(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            out[prefix or "_schema"] = [translate_message(m) for m in messages]
        else:
            for i, m in enumerate(messages):
                for k, v in flatten(m, f"{prefix}.{i}" if prefix else str(i)).items():
                    out.setdefault(k, []).extend(v)
    elif isinstance(messages, str):
        out[prefix or "_schema"] = [translate_message(messages)]
    return out


def json_error(status: int, code: str, message: str, fields: dict | None = None, headers: dict | None = None):
    response = jsonify(error=code, message=message, fields=fields or {})
    response.status_code = status
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


def http_error(err: HTTPException):
    """HTTP errors raised in the API's views (webargs' 422, abort(404), Flask-Limiter's 429 …)."""
    use_client_language()   # a 429 is raised before the blueprint's own before_request
    data = getattr(err, "data", None) or {}
    status = err.code or 500
    headers = dict(data.get("headers") or {})
    if status == 405 and getattr(err, "valid_methods", None):
        headers["Allow"] = ", ".join(err.valid_methods)
    messages = data.get("messages") or data.get("errors")
    if messages and status in (400, 422):
        fields = flatten(messages)
        if status == 400 or set(fields) == {"_schema"} and fields["_schema"] == [gettext("Invalid JSON body.")]:
            return json_error(400, "bad_json", gettext(N_("The body is not valid JSON.")), {}, headers)
        return json_error(422, "invalid_input", gettext(HTTP_MESSAGES[422]), fields, headers)
    code = getattr(err, "api_code", None) or (err.name or "error").lower().replace(" ", "_")
    message = getattr(err, "api_message", None) or gettext(HTTP_MESSAGES.get(status, N_("Something went wrong.")))
    if getattr(getattr(err, "limit", None), "scope", None) == AUTH_FAILURE_SCOPE:
        code, message = "too_many_failed_authentications", gettext(AUTH_FAILURES_MESSAGE)
    return json_error(status, code, message, {}, headers)
