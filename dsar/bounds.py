"""What a client may send as an identifier or a day: what the database columns and date arithmetic can hold.

A number or a day outside these bounds is the client's mistake (a 4xx), never a database error or an overflow
(a 500): PostgreSQL refuses an ``integer`` above 2^31 - 1, and ``date.max + 1 day`` overflows in Python.
"""
from __future__ import annotations

from datetime import date

MAX_DB_INT = 2**31 - 1          # PostgreSQL "integer": every id column of the schema
MAX_ID_DIGITS = len(str(MAX_DB_INT))
FIRST_DAY = date(1900, 1, 1)     # no request, birth or filter date before it makes sense
LAST_DAY = date(9998, 12, 31)    # a day later still leaves room for "the day after" and a time zone shift


def parse_id(text: str | None) -> int | None:
    """A database id written in decimal, or None when ``text`` is not one (empty, signs, 2^64 …)."""
    text = (text or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > MAX_ID_DIGITS:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_DB_INT else None


def day_in_range(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY
