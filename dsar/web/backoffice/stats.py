"""Statistics: volumes per month and per type, on-time rate, median days to answer, overdue now."""
from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _

from ...services import stats as stats_service
from . import bp
from .auth import staff_required
from .views import TYPE_LABELS


@bp.get("/stats")
@staff_required("admin", "dpo", "auditor")
def stats_GET():
    s = stats_service.compute()
    month_chart = stats_service.bar_chart_svg(
        _("Requests received per month"),
        _("One bar per month, from %(start)s to %(end)s.", start=s.start.isoformat(), end=s.end.isoformat()),
        s.months, chart_id="chart-months")
    type_chart = stats_service.bar_chart_svg(
        _("Requests received per type"), _("One bar per type of request over the same period."),
        [(_(TYPE_LABELS[t]), c) for t, c in s.by_type], chart_id="chart-types", horizontal=True, height=300)
    gauge = stats_service.rate_gauge_svg(_("Answered on time"), s.on_time_rate, chart_id="chart-on-time")
    return render_template("backoffice/stats.html", s=s, month_chart=month_chart, type_chart=type_chart,
                           gauge=gauge, type_labels=TYPE_LABELS)
