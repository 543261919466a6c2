"""Statistics for the DPO: volumes per month and per type, on-time rate, median days to answer, overdue now.

Charts are SVG drawn here on the server: no JavaScript, no external library or CDN,
readable by a screen reader (each chart has a title, a description and a data table beside it).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, time

import sqlalchemy as sa
from markupsafe import Markup, escape

from ..deadlines import PARIS, legal_day
from ..extensions import db
from ..models import DataRequest, utcnow
from ..models.enums import ACTIVE_STATUSES, RequestType


@dataclass(frozen=True)
class Stats:
    months: list[tuple[str, int]]          # ("2026-03", count), oldest first, every month of the period
    by_type: list[tuple[str, int]]         # (type, count), every type, in RequestType order
    received: int
    answered: int
    answered_on_time: int
    on_time_rate: float | None             # 0..1, None when nothing was answered
    median_days: float | None              # calendar days from clock start to answer
    overdue_now: int
    open_now: int
    start: date
    end: date


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


def _month_key():
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("Europe/Paris", DataRequest.received_at), "YYYY-MM")
    # SQLite keeps instants as UTC text; the month is taken in UTC there (the embedded mode's approximation).
    return sa.func.strftime("%Y-%m", DataRequest.received_at)


def compute(months: int = 12, *, today: date | None = None) -> Stats:
    today = today or legal_day(utcnow())
    start = _add_months(_month_start(today), -(months - 1))
    start_instant = datetime.combine(start, time(0), tzinfo=PARIS)
    in_period = DataRequest.received_at >= start_instant

    month_counts = dict(db.session.execute(
        sa.select(_month_key().label("m"), sa.func.count()).where(in_period).group_by("m")).all())
    month_list = []
    d = start
    while d <= today:
        key = f"{d.year:04d}-{d.month:02d}"
        month_list.append((key, int(month_counts.get(key, 0))))
        d = _add_months(d, 1)

    type_counts = dict(db.session.execute(
        sa.select(DataRequest.type, sa.func.count()).where(in_period).group_by(DataRequest.type)).all())
    by_type = [(t.value, int(type_counts.get(t.value, 0))) for t in RequestType]

    answered_rows = db.session.execute(
        sa.select(DataRequest.answered_at, DataRequest.due_date, DataRequest.clock_started_on)
        .where(in_period, DataRequest.answered_at.is_not(None))
        .execution_options(yield_per=5000)
    )
    answered = on_time = 0
    durations = []
    for answered_at, due, started in answered_rows:
        answered += 1
        day = legal_day(answered_at)
        if due is not None and day <= due:
            on_time += 1
        if started is not None:
            durations.append((day - started).days)

    active = DataRequest.status.in_([s.value for s in ACTIVE_STATUSES])
    open_now, overdue_now = db.session.execute(sa.select(
        sa.func.count().filter(active), sa.func.count().filter(active, DataRequest.due_date < today),
    ).where(active)).one()
    return Stats(
        months=month_list, by_type=by_type, received=sum(c for _, c in month_list), answered=answered,
        answered_on_time=on_time, on_time_rate=(on_time / answered) if answered else None,
        median_days=float(statistics.median(durations)) if durations else None,
        overdue_now=int(overdue_now or 0), open_now=int(open_now or 0), start=start, end=today,
    )


# --- SVG -------------------------------------------------------------------------------------------------


def bar_chart_svg(title: str, description: str, bars: list[tuple[str, int]], *, chart_id: str,
                  width: int = 720, height: int = 260, horizontal: bool = False) -> Markup:
    """A bar chart as inline SVG markup: presentation attributes only (no style attribute, CSP-safe)."""
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    top = max([v for _, v in bars] + [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" aria-labelledby="{title_id} {desc_id}" id="{escape(chart_id)}">',
        f'<title id="{title_id}">{escape(title)}</title><desc id="{desc_id}">{escape(description)}</desc>',
    ]
    if horizontal:
        label_w, pad = 210, 8
        row_h = (height - 2 * pad) / max(len(bars), 1)
        for i, (label, value) in enumerate(bars):
            y = pad + i * row_h
            w = (width - label_w - 60) * value / top
            parts.append(f'<text x="{label_w - 6}" y="{y + row_h * 0.65:.1f}" text-anchor="end" font-size="13" '
                         f'fill="#1b1f24">{escape(label)}</text>')
            parts.append(f'<rect x="{label_w}" y="{y + 3:.1f}" width="{w:.1f}" height="{max(row_h - 6, 2):.1f}" '
                         f'fill="#0b5cad"><title>{escape(label)}: {value}</title></rect>')
            parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + row_h * 0.65:.1f}" font-size="13" '
                         f'fill="#1b1f24">{value}</text>')
    else:
        base, pad_top, pad_x = height - 40, 20, 10
        slot = (width - 2 * pad_x) / max(len(bars), 1)
        parts.append(f'<line x1="{pad_x}" y1="{base}" x2="{width - pad_x}" y2="{base}" stroke="#9aa4b0"/>')
        for i, (label, value) in enumerate(bars):
            h = (base - pad_top) * value / top
            x = pad_x + i * slot
            parts.append(f'<rect x="{x + slot * 0.15:.1f}" y="{base - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                         f'fill="#0b5cad"><title>{escape(label)}: {value}</title></rect>')
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{base - h - 4:.1f}" text-anchor="middle" font-size="12" '
                         f'fill="#1b1f24">{value}</text>')
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{base + 16}" text-anchor="middle" font-size="11" '
                         f'fill="#5b6470">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def rate_gauge_svg(title: str, rate: float | None, *, chart_id: str, width: int = 360, height: int = 48) -> Markup:
    """A horizontal bar showing a rate (on-time answers)."""
    pct = 0 if rate is None else round(rate * 100)
    fill = "#1e7a34" if pct >= 90 else ("#a15c00" if pct >= 70 else "#b3261e")
    inner = width - 70
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'aria-labelledby="{chart_id}-title" id="{escape(chart_id)}"><title id="{chart_id}-title">{escape(title)}: '
        f'{"—" if rate is None else f"{pct} %"}</title>'
        f'<rect x="0" y="10" width="{inner}" height="24" fill="#e6e9ed"/>'
        f'<rect x="0" y="10" width="{inner * pct / 100:.1f}" height="24" fill="{fill}"/>'
        f'<text x="{inner + 8}" y="28" font-size="15" fill="#1b1f24">{"—" if rate is None else f"{pct} %"}</text></svg>'
    )


def period_label(start: date, end: date) -> str:
    return f"{start.isoformat()} – {end.isoformat()}"

