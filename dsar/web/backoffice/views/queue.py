"""The queue: filters, saved searches (the text stays in the session), counters."""
from __future__ import annotations

import secrets
from datetime import datetime

from flask import redirect, render_template, request, session, url_for
from markupsafe import Markup

from ....deadlines import legal_day
from ....errors import InvalidInput, N_
from ....models import utcnow
from ....models.enums import Channel, RequestType, Status, SubjectKind
from ....policy_warnings import configuration_warnings
from ....services import queue as queue_service
from ....services.queue import QueueFilters
from ....labels import label
from ...common import current_language, status_label, translate_error
from ..blueprint import bp
from ..auth import staff_required
from ..page_support import labels, policy
from .filters import paris_date

SEARCH_SESSION_KEY = "bo_searches"
MAX_SAVED_SEARCHES = 20
def saved_search(search_id: str | None) -> str | None:
    """The search text behind a search id (kept in the session: a name or an email never goes in a URL)."""
    if not search_id:
        return None
    return (session.get(SEARCH_SESSION_KEY) or {}).get(search_id)


def filters_from_request():
    """The queue filters of the query string, with the saved search; InvalidInput on a bad value."""
    search_id = request.args.get("search") or None
    text = saved_search(search_id)
    if search_id and text is None:
        raise InvalidInput(N_("This search has expired. Search again."), code="search_expired", field="q")
    return queue_service.parse_filters(request.args, search=text), search_id


class PageWords:
    """The words and days of one page, each translated or formatted once: the rows repeat a few types, statuses and
    days, and each Flask-Babel call looks up the request's locale and catalogue again (issue 19: ~300 translations
    and ~120 dates for 51 rows, a third of the page's rendering)."""

    def __init__(self):
        self._memo: dict[tuple, str] = {}

    def _once(self, key: tuple, make) -> str:
        try:
            return self._memo[key]
        except KeyError:
            text = self._memo[key] = make()
            return text

    def label(self, table: dict, key) -> str:
        """``bo_label(table, key)``."""
        return self._once(("label", id(table), key), lambda: label(table, key))

    def status(self, status: str) -> str:
        """``status|status_label``."""
        return self._once(("status", status), lambda: status_label(status))

    def day(self, instant) -> str:
        """``instant|paris_date``: the day in Paris."""
        day = legal_day(instant) if isinstance(instant, datetime) else instant
        return self._once(("day", day), lambda: paris_date(day))


#: The policy's warnings, as the queue shows them, per language: the same section on every page (issue 19: a
#: seventh of the page's rendering). Kept with the policy object they were rendered from: a policy loaded again
#: (another app, a test) is rendered again.
_warnings_sections: dict[str, tuple[object, Markup]] = {}


def _policy_warnings_section(language: str) -> Markup:
    current = policy()
    kept = _warnings_sections.get(language)
    if kept is None or kept[0] is not current:
        html = Markup(render_template("backoffice/_policy_warnings.html",
                                      policy_warnings=configuration_warnings(current)))
        kept = _warnings_sections[language] = (current, html)
    return kept[1]


def _queue_context(filters, search_id, page, errors=None):
    args = filters.as_args()
    if search_id:
        args["search"] = search_id
    return dict(
        page=page, filters=filters, filter_args=args, search_id=search_id, search_text=filters.search or "",
        counters=queue_service.counters(), staff_members=queue_service.assignable_staff(),
        statuses=[s.value for s in Status], types=[t.value for t in RequestType],
        subject_kinds=[k.value for k in SubjectKind], channels=[c.value for c in Channel], errors=errors or {},
        today=legal_day(utcnow()), policy_warnings_section=_policy_warnings_section(current_language()),
        identity_reviews=queue_service.identity_reviews_waiting(limit=20), words=PageWords(), **labels(),
    )


@bp.get("/")
@staff_required()
def queue_GET():
    try:
        filters, search_id = filters_from_request()
        page = queue_service.fetch_page(filters, after=request.args.get("after"))
    except InvalidInput as err:
        filters = QueueFilters()
        page = queue_service.fetch_page(filters)
        return render_template("backoffice/queue.html", **_queue_context(
            filters, None, page, {err.field or "form": translate_error(err)})), 422
    return render_template("backoffice/queue.html", **_queue_context(filters, search_id, page))


@bp.post("/search")
@staff_required(read_only=True)
def search_POST():
    """Keep the search text in the session and show the queue with it; the URL carries only a random id."""
    text = (request.form.get("q") or "").strip()[:254]
    reference = queue_service.exact_reference(text)
    if reference:   # issue 18: an exact reference opens the request
        return redirect(url_for("backoffice.request_GET", reference=reference), code=303)
    args = {k: v for k, v in request.form.items() if k in {"status", "type", "subject_kind", "assignee", "channel",
                                                          "handler", "overdue", "received_from", "received_to"} and v}
    if text:
        searches = dict(session.get(SEARCH_SESSION_KEY) or {})
        while len(searches) >= MAX_SAVED_SEARCHES:
            searches.pop(next(iter(searches)))
        search_id = secrets.token_urlsafe(9)
        searches[search_id] = text
        session[SEARCH_SESSION_KEY] = searches
        args["search"] = search_id
    return redirect(url_for("backoffice.queue_GET", **args))


