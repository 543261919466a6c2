"""Guards on what a client sends, applied before any view reads it.

- ``BoundedIntConverter`` replaces Flask's ``int`` URL converter app-wide: an id of 2^64 (or 5,000 digits) in a
  path is a 404 like any id that does not exist, instead of an overflow in the database driver.
- ``TextConverter`` replaces the default ``string`` converter: a path segment with a NUL or another control
  character (no reference, token or name has one) is a 404, instead of PostgreSQL refusing the text (a 500).
- ``refuse_hostile_json`` parses a JSON body once with limits before the API's views and webargs read it: nesting
  3,000 levels deep (a RecursionError in ``json``) or an integer of 5,000 digits (a ValueError that webargs does
  not expect) is a 400, not a 500. Nothing the API takes is deeper than a few levels or needs a number longer
  than an id.
"""
from __future__ import annotations

import json
import math

from flask import request
from flask_babel import gettext
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, UnicodeConverter, ValidationError

from ..bounds import MAX_DB_INT, MAX_ID_DIGITS
from ..errors import N_

MAX_JSON_DEPTH = 32        # the deepest body the API takes (OpenDSR's) is 4 levels
MAX_JSON_NUMBER_CHARS = 32  # far above any id or count; Python refuses 4,300+ digit integers with a ValueError


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` limited to what an id column holds; anything larger does not match (404)."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_DB_INT, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    def to_python(self, value: str):
        if len(value) > MAX_ID_DIGITS + (1 if self.signed else 0):
            raise ValidationError()   # before int(): 5,000 digits is a ValueError in Python 3.11
        return super().to_python(value)


class TextConverter(UnicodeConverter):
    """``<name>`` / ``<string:name>`` without control characters."""

    def __init__(self, map, minlength=1, maxlength=None, length=None):
        super().__init__(map, minlength=minlength, maxlength=maxlength, length=length)
        self.regex = self.regex.replace("[^/]", "[^/\\x00-\\x1f\\x7f]")


class JSONRefused(ValueError):
    """A JSON body outside the limits; ``message`` says which (a msgid)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


TOO_DEEP = N_("The JSON body is nested too deeply.")
TOO_LONG_NUMBER = N_("The JSON body holds a number that is too large.")
NOT_JSON = N_("The body is not valid JSON.")


def _number(text: str):
    if len(text) > MAX_JSON_NUMBER_CHARS:
        raise JSONRefused(TOO_LONG_NUMBER)
    return int(text)


def _float(text: str):
    value = float(text) if len(text) <= MAX_JSON_NUMBER_CHARS else math.inf
    if not math.isfinite(value):
        raise JSONRefused(TOO_LONG_NUMBER)
    return value


def _constant(name: str):
    raise JSONRefused(NOT_JSON)   # NaN, Infinity: not JSON (RFC 8259)


def _depth_within(value, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return True


def guarded_loads(data: bytes | str):
    """``json.loads`` with the limits above; JSONRefused (a ValueError) when a limit is crossed."""
    try:
        value = json.loads(data, parse_int=_number, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise JSONRefused(TOO_DEEP) from None
    if not _depth_within(value, MAX_JSON_DEPTH):
        raise JSONRefused(TOO_DEEP)
    return value


class BadJSONBody(BadRequest):
    """400 in the API's error shape (``api_code``/``api_message`` are read by its handlers)."""

    def __init__(self, message: str):
        super().__init__()
        self.api_code = "bad_json"
        self.api_message = gettext(message)


def refuse_hostile_json() -> None:
    """For a JSON request with a body: 400 unless it parses within the limits (the API calls this first)."""
    if not request.is_json:
        return
    data = request.get_data(cache=True)
    if not data:
        return
    try:
        guarded_loads(data)
    except JSONRefused as err:
        raise BadJSONBody(err.message) from None
    except ValueError:   # JSONDecodeError, UnicodeDecodeError (invalid UTF-8)
        raise BadJSONBody(NOT_JSON) from None


def init_input_guards(app) -> None:
    """Before any blueprint is registered: the converter is bound to each rule as it is added."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.url_map.converters["default"] = app.url_map.converters["string"] = TextConverter
