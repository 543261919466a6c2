"""Errors of the domain. The web layer turns them into 4xx answers with a translated message.

Messages are English message ids marked with ``N_`` so that Babel extracts them;
the web layer translates them with ``gettext(message) % params``.
"""
from __future__ import annotations


def N_(message: str) -> str:
    """Mark a message for extraction without translating it here (domain code stays free of Flask)."""
    return message


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, code: str | None = None, field: str | None = None, **params):
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params
        self.field = field
        if code:
            self.code = code


class InvalidInput(DomainError):
    status_code = 422
    code = "invalid_input"


class IllegalTransition(DomainError):
    status_code = 409
    code = "illegal_transition"


class Conflict(DomainError):
    """Someone else changed the request since the page was loaded."""

    status_code = 409
    code = "conflict"


class PermissionDenied(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Unavailable(DomainError):
    """Something the service needs failed for now (not the client's doing): nothing was done, try again (503)."""

    status_code = 503
    code = "unavailable"
