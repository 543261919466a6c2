"""How dates and sizes are written to people, in their language: used by letters (``dsar.pdf``), emails and pages.

A leaf module: it imports nothing of dsar but the legal time zone.
"""
from __future__ import annotations

from datetime import datetime

from babel.dates import format_date
from flask_babel import gettext

from .deadlines import PARIS


def long_date(value, language: str) -> str:
    """5 mars 2026 / March 5, 2026; an instant is shown as its Europe/Paris day."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(PARIS).date()
    return format_date(value, format="long", locale=language)


def human_size(size: int) -> str:
    """A byte count as people read it, in the current language (10 MB, 10 Mo)."""
    if size >= 1024 * 1024:
        value = size / (1024 * 1024)
        shown = str(int(value)) if value == int(value) else str(round(value, 1))
        return gettext("%(size)s MB", size=shown)
    return gettext("%(size)s KB", size=max(1, size // 1024))
