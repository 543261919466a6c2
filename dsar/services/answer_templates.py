"""Where an answer starts from (issue 18): a text per request type and outcome, in the requester's language,
which the DPO edits in the answer form before recording it.

Texts live in ``templates/answers/<type>_<outcome>.<lang>.txt``, with ``_<outcome>.<lang>.txt`` for the
types that have none of their own; they are Jinja templates (reference, received_on, request_type_name).
"""
from __future__ import annotations

from flask import current_app
from jinja2 import TemplateNotFound

from ..deadlines import legal_day
from ..models import DataRequest
from ..models.enums import Outcome
from ..pdf import long_date
from ..policy import localized


def template_names(request_type: str, outcome: str, language: str) -> list[str]:
    return [f"answers/{request_type}_{outcome}.{language}.txt", f"answers/_{outcome}.{language}.txt"]


def answer_text(req: DataRequest, outcome: str) -> str | None:
    """The starting text of an answer with ``outcome`` to ``req``, in the requester's language; None if none."""
    if outcome not in set(Outcome):
        return None
    language = req.language if req.language in current_app.config["LANGUAGES"] else "fr"
    try:
        template = current_app.jinja_env.select_template(template_names(str(req.type), outcome, language))
    except TemplateNotFound:
        return None
    rt = current_app.extensions["dsar_policy"].request_types.get(req.type)
    received_on = legal_day(req.received_at) if req.received_at else None
    return template.render(
        reference=req.reference,
        received_on=long_date(received_on, language) if received_on else "",
        request_type_name=localized(rt.name, language) if rt else str(req.type),
    ).strip()
