"""Statistics: volumes per month and per type, on-time rate, median days to answer, overdue now."""
from __future__ import annotations

from flask import render_template, request
from flask_babel import format_decimal, format_percent, gettext as _

from ...errors import InvalidInput, N_
from ..common import translate_error

from ...services import stats as stats_service
from .blueprint import bp
from .auth import staff_required
from ...labels import TYPE_LABELS


PERIODS = (3, 6, 12, 24)
DEFAULT_MONTHS = 12


@bp.get("/stats")
@staff_required("admin", "dpo", "auditor")
def stats_GET():
    """The figures over a period the DPO chooses (issue 18): the last 3, 6, 12 or 24 months."""
    raw = request.args.get("months") or str(DEFAULT_MONTHS)
    error = None
    if raw not in {str(m) for m in PERIODS}:
        error = translate_error(InvalidInput(N_("Choose one of the periods offered."), code="bad_period",
                                             field="months"))
        raw = str(DEFAULT_MONTHS)
    months = int(raw)
    s = stats_service.compute(months)
    month_chart = stats_service.bar_chart_svg(
        _("Requests received per month"),
        _("One bar per month, from %(start)s to %(end)s.", start=s.start.isoformat(), end=s.end.isoformat()),
        s.months, chart_id="chart-months")
    type_chart = stats_service.bar_chart_svg(
        _("Requests received per type"), _("One bar per type of request over the same period."),
        [(_(TYPE_LABELS[t]), c) for t, c in s.by_type], chart_id="chart-types", horizontal=True, height=300)
    gauge = stats_service.rate_gauge_svg(_("Answered on time"), s.on_time_rate, chart_id="chart-on-time")
    return render_template("backoffice/stats.html", s=s, month_chart=month_chart, type_chart=type_chart,
                           gauge=gauge, type_labels=TYPE_LABELS, periods=PERIODS, months=months, period_error=error,
                           format_decimal=format_decimal, format_percent=format_percent), 422 if error else 200
