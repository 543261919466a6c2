"""What an outbox email keeps until its delivery job renders it (issue 19 item 7).

A change that causes an email writes its template, its language and its context, not its rendered text: the
web request or the sweep that queues it renders nothing. The context is frozen into JSON made of plain values and
references to rows (``{"$row": "DataRequest", "id": 12}``); the delivery job thaws it, loading each row by its
id, and renders the templates just before sending. The frozen context carries the email's bearer links (the status
page, a task link), so it is sealed with the file keys like the rendered copy it replaces (issue 12 item 2), and
erased once the email is sent or given up.

A row is read as it stands when the email is rendered, seconds or minutes after the change: a context carries
as plain values whatever must be told as it was at that instant (the due date an email announces, say). A row that
no longer exists then makes the email undeliverable (``RowGone``), never a crash of the worker.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum

import sqlalchemy as sa
from flask_babel import LazyString, force_locale
from markupsafe import Markup
from sqlalchemy.orm.exc import UnmappedInstanceError

from ..extensions import db
from ..security import decrypt_secret, encrypt_secret
from .outbox import Undeliverable

#: The version of the sealed payload: a message sealed before issue 19 holds its rendered text and HTML instead.
VERSION = 2


class Unfreezable(TypeError):
    """A context value that neither JSON nor a row reference can carry (the email is then rendered at once)."""


class RowGone(Undeliverable, LookupError):
    """A row the context refers to no longer exists: the email cannot be rendered."""


def _model_by_name(name: str):
    for mapper in db.Model.registry.mappers:
        if mapper.class_.__name__ == name:
            return mapper.class_
    raise RowGone(f"no model is named {name!r}")


def _freeze(value):
    # Order matters: bool before int, Markup and Enum before str, datetime before date (they are subclasses).
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Markup):
        return {"$markup": str(value)}
    if isinstance(value, Enum):
        return value.value if isinstance(value, str) else {"$enum": value.value}
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$seconds": value.total_seconds()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, LazyString):
        return str(value)   # translated now, in the email's language (``seal`` sets it)
    if isinstance(value, (list, tuple)):
        return [_freeze(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise Unfreezable("a context dictionary is keyed by strings")
        return {"$dict": {k: _freeze(v) for k, v in value.items()}}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # A policy value (the supervisory authority, say): a template reads its fields as it reads a dict's keys.
        return {"$dict": {f.name: _freeze(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    try:
        state = sa.inspect(value)
    except (sa.exc.NoInspectionAvailable, UnmappedInstanceError):
        raise Unfreezable(f"an email context cannot carry a {type(value).__name__}") from None
    identity = state.identity
    if identity is None and state.pending:
        # Added to this session with its id already taken (a new request, issue 19): it is INSERTed by the same
        # flush as the email, before it, so the delivery job finds it.
        identity = state.mapper.primary_key_from_instance(value)
        identity = None if None in identity else identity
    if identity is None:
        # Not inserted yet, and no flush here (outbox.py): the caller's row is rendered at once instead.
        raise Unfreezable(f"a {type(value).__name__} without an id yet")
    return {"$row": type(value).__name__, "id": list(identity)}


def _thaw(value, rows: dict):
    if isinstance(value, list):
        return [_thaw(v, rows) for v in value]
    if not isinstance(value, dict):
        return value
    if "$dict" in value:
        return {k: _thaw(v, rows) for k, v in value["$dict"].items()}
    if "$row" in value:
        key = (value["$row"], tuple(value["id"]))
        if key not in rows:
            model = _model_by_name(value["$row"])
            row = db.session.get(model, key[1] if len(key[1]) > 1 else key[1][0])
            if row is None:
                raise RowGone(f"the {value['$row']} this email was written about no longer exists")
            rows[key] = row
        return rows[key]
    if "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    if "$date" in value:
        return date.fromisoformat(value["$date"])
    if "$seconds" in value:
        return timedelta(seconds=value["$seconds"])
    if "$decimal" in value:
        return Decimal(value["$decimal"])
    if "$markup" in value:
        return Markup(value["$markup"])
    if "$enum" in value:
        return value["$enum"]
    raise ValueError("a sealed email context holds an unknown value")


def seal(context: dict, language: str) -> str:
    """The context frozen and encrypted with the file keys; ``Unfreezable`` when a value cannot be carried.

    A lazily translated text in it is translated in ``language``, the email's."""
    # The locale is switched only when a text in the context is to be translated.
    lazy = any(isinstance(v, LazyString) for v in _walk(context))
    with force_locale(language) if lazy else contextlib.nullcontext():
        frozen = {k: _freeze(v) for k, v in context.items()}
    return encrypt_secret(json.dumps({"v": VERSION, "context": frozen}, ensure_ascii=False, separators=(",", ":")))


def _walk(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def is_context(payload: dict) -> bool:
    """Whether an unsealed outbox payload is a context to render (else the rendered email of an older version)."""
    return payload.get("v") == VERSION


def unseal(sealed: str) -> dict:
    """The sealed payload, decrypted (ValueError when no configured key opens it)."""
    return json.loads(decrypt_secret(sealed))


def thaw(payload: dict) -> dict:
    """The context of an unsealed payload with its rows loaded; ``RowGone`` when one no longer exists."""
    rows: dict = {}
    return {k: _thaw(v, rows) for k, v in payload["context"].items()}
