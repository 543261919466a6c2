"""One way every back-office POST view acts (issue 15): run the service call, commit once, flash and go back;
a failure the user caused comes back on its form with nothing saved; a refused permission is a 403.

Each view says only what it does, where its form comes back with an error, and where it goes on success.
"""
from __future__ import annotations

from typing import Callable

from flask import abort, flash

from ...errors import DomainError, PermissionDenied
from ...extensions import db


def error_status(err: DomainError) -> int:
    """The HTTP status of a refused form: the error's own 4xx, or 422 (never a 5xx for client input)."""
    return err.status_code if 400 <= err.status_code < 500 else 422


def form_action(act: Callable[[], object], *, on_error: Callable[[DomainError, int], object],
                done: Callable[[], object], message: str | None = None):
    """Run ``act``; commit and ``done()`` (with ``message`` flashed), or roll back and ``on_error(err, status)``."""
    try:
        act()
    except PermissionDenied:
        db.session.rollback()
        abort(403)
    except DomainError as err:
        db.session.rollback()
        return on_error(err, error_status(err))
    db.session.commit()
    if message:
        flash(message, "info")
    return done()
