"""The register of requests: a CSV export that honours the queue's filters."""
from __future__ import annotations

from flask import Response, render_template, request, stream_with_context

from ...deadlines import legal_day
from ...errors import InvalidInput
from ...models import utcnow
from ...services import register as register_service
from ...services import suppression
from ..common import translate_error
from .blueprint import bp
from .auth import staff_required
from .views.queue import _queue_context, filters_from_request
from ...services.queue import QueueFilters, fetch_page


@bp.get("/register.csv")
@staff_required("admin", "dpo", "auditor")
def register_csv_GET():
    try:
        filters, _search_id = filters_from_request()
    except InvalidInput as err:
        filters = QueueFilters()
        return render_template("backoffice/queue.html", **_queue_context(
            filters, None, fetch_page(filters), {err.field or "form": translate_error(err)})), 422
    name = f"dsar-register-{legal_day(utcnow()).isoformat()}.csv"
    body = stream_with_context(register_service.stream_csv(filters))
    return Response(body, mimetype="text/csv", headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"',
    })


@bp.get("/register")
@staff_required("admin", "dpo", "auditor")
def register_GET():
    """What the export holds and how to open it (UTF-8 with BOM, semicolons)."""
    return render_template("backoffice/register.html", args=request.args.to_dict(),
                           columns=register_service.COLUMNS)


@bp.get("/suppression.csv")
@staff_required("admin", "dpo")
def suppression_csv_GET():
    """The art. 21(3) suppression list (hashes only) for a marketing tool that cannot call the API."""
    name = f"dsar-suppression-{legal_day(utcnow()).isoformat()}.csv"
    return Response(stream_with_context(suppression.stream_csv()), mimetype="text/csv", headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"',
    })
