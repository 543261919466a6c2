"""Template filters and globals of the back-office pages: options of the select lists, dates, labels."""
from __future__ import annotations

from datetime import date as _date

from flask_babel import format_date, format_time, gettext as _

from ....deadlines import PARIS, legal_day
from ....labels import label
from ....policy_warnings import text as policy_warning_param
from ...common import status_label
from ..blueprint import bp


@bp.app_context_processor
def backoffice_globals():
    return {"bo_label": label}


@bp.app_template_global("pw_text")
def policy_warning_text(value, lang):
    """A localized parameter of a configuration warning, in the page's language."""
    return policy_warning_param(value, lang)


@bp.app_template_filter("dict_without")
def dict_without(d: dict, *keys) -> dict:
    return {k: v for k, v in (d or {}).items() if k not in keys}


@bp.app_template_filter("status_option")
def status_option(status: str):
    return status, status_label(status)


@bp.app_template_filter("label_option")
def label_option(value: str, table: dict):
    return value, _(table[value]) if value in table else value


@bp.app_template_filter("staff_option")
def staff_option(staff):
    return str(staff.id), staff.name


@bp.app_template_filter("pro_option")
def pro_option(professional):
    return str(professional.id), f"{professional.full_name} ({professional.email})"


@bp.app_template_filter("paris_date")
def paris_date(instant) -> str:
    """A day written the way the page's language writes it (issue 18: "30 nov. 2026", "Nov 30, 2026")."""
    if not instant:
        return "—"
    return format_date(instant if type(instant) is _date else legal_day(instant), "medium")


@bp.app_template_filter("paris_datetime")
def paris_datetime(instant) -> str:
    if not instant:
        return "—"
    local = instant.astimezone(PARIS)
    return f"{format_date(local.date(), 'medium')} {format_time(local.time(), 'HH:mm')}"
