"""Legal rules enforced through the service (issue 13): the direct-marketing objection, the request checklist.

- GDPR art. 21(2)-(3), policy art. 8.1: an objection to direct marketing is absolute; refusing it, whole or
  in part, is a 409 with a clear message, in the API, the back-office and the professional's task page.
- The policy's per-request-type steps (GDPR art. 15(4), 16, 18, 20(2), 21, 21(3); CSP L.1111-5, L.1110-4) are a
  checklist on the request: a required step still open blocks a granting answer or the closure, and the page
  says which step and why.
"""
from __future__ import annotations

import html as html_module
import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from api_support import bearer, make_key
from backoffice_support import signed_in_client
from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import DataRequest, Event, RequestStep, utcnow
from dsar.models.enums import DocumentKind, Status
from dsar.services import checklist, routing
from factories import make_request
from hostile_files import valid_pdf
from routing_support import answer_task_page, care_link, patient_request, professional, task_of, task_path


def act(client, secret, reference, **body):
    return client.post(f"/api/v1/requests/{reference}/actions", json=body, headers=bearer(secret))


def fresh(reference) -> DataRequest:
    db.session.expire_all()
    return db.session.scalar(sa.select(DataRequest).where(DataRequest.reference == reference))


def text(response) -> str:
    return html_module.unescape(response.get_data(as_text=True))


def _version(page: str, form: str) -> str:
    block = page[page.index(f'id="form-{form}"'):]
    return re.search(r'name="version" value="(\d+)"', block).group(1)


def prospect_objection(policy, **kw):
    """A prospect objects to the client file, whose prospection is direct marketing (policy art. 8.1)."""
    req = make_request(policy=policy, type="objection", subject_kind="prospect", activities=["client_file"],
                       status=Status.IN_PROGRESS, **kw)
    checklist.open_checklist(req, Actor.system())
    db.session.commit()
    return req


# --- GDPR art. 21(3): the objection to direct marketing -------------------------------------------------------


@pytest.mark.parametrize("outcome", ["refused", "partly_granted"])
def test_the_api_refuses_to_refuse_an_objection_to_direct_marketing(client, app, policy, outcome):
    _, secret = make_key("staff")
    req = prospect_objection(policy)
    events_before = db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.request_id == req.id))
    res = act(client, secret, req.reference, action="answer", outcome=outcome, message="Non.",
              reasons="Intérêt commercial")
    assert res.status_code == 409, res.get_json()
    body = res.get_json()
    assert body["error"] == "direct_marketing_objection"
    assert "art. 21(2)-(3)" in body["message"] and "prospection" in body["message"]
    after = fresh(req.reference)
    assert after.status == Status.IN_PROGRESS and after.outcome is None   # nothing written
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.request_id == req.id)) == events_before


def test_a_whole_refusal_of_that_objection_is_a_409_too(client, app, policy):
    _, secret = make_key("staff")
    req = prospect_objection(policy)
    res = act(client, secret, req.reference, action="refuse", reasons="Nous tenons à vous écrire.")
    assert res.status_code == 409 and res.get_json()["error"] == "direct_marketing_objection"
    assert fresh(req.reference).status == Status.IN_PROGRESS


def test_the_back_office_says_why_the_objection_cannot_be_refused(app, policy):
    req = prospect_objection(policy)
    client, _ = signed_in_client(app, "dpo")
    page = client.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    res = client.post(f"/backoffice/requests/{req.reference}/actions/answer", content_type="multipart/form-data", data={
        "outcome": "refused", "message": "Non.", "reasons": "Intérêt commercial", "version": _version(page, "answer")})
    assert res.status_code == 409
    assert "Une opposition à la prospection ne peut pas être refusée" in text(res)
    assert fresh(req.reference).status == Status.IN_PROGRESS


def test_granting_the_objection_is_possible_once_its_steps_are_done(client, app, policy):
    _, secret = make_key("staff")
    req = prospect_objection(policy)
    keys = sorted(s.step_key for s in req.steps)
    # GDPR art. 21: assess and stop, per activity, by staff; art. 21(3): the suppression list is the answer's
    # own work (services/suppression.py), so it is not a step to tick.
    assert keys == ["assess_objection", "stop_processing"]
    res = act(client, secret, req.reference, action="answer", outcome="granted", message="C'est noté.")
    assert res.status_code == 409 and res.get_json()["error"] == "step_open"
    assert "art. 21" in res.get_json()["message"]
    for step in fresh(req.reference).steps:
        res = act(client, secret, req.reference, action="complete_step", step_id=step.id, note="Fait")
        assert res.status_code == 200, res.get_json()
    res = act(client, secret, req.reference, action="answer", outcome="granted", message="C'est noté.")
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["status"] == "answered" and res.get_json()["outcome"] == "granted"
    from dsar.models import SuppressionEntry

    assert db.session.query(SuppressionEntry).filter_by(request_id=req.id).count() >= 1


def test_only_an_objection_reaching_direct_marketing_is_absolute(app, policy):
    """A patient's objection about the application reaches no direct marketing (policy art. 8.1): a refusal with
    reasons stays possible (compelling legitimate grounds, GDPR art. 21(1)); a professional's reaches prospection."""
    from dsar.services import objection

    patient = make_request(policy=policy, type="objection", subject_kind="patient", activities=["application"])
    assert objection.direct_marketing_purposes(patient) == []
    objection.require_objection_honoured(patient, "refused")          # no error
    pro = make_request(policy=policy, type="objection", subject_kind="professional", activities=["client_file"])
    assert objection.direct_marketing_purposes(pro) == ["client_file.prospection"]
    access = make_request(policy=policy, type="access", subject_kind="professional", activities=["client_file"])
    assert objection.direct_marketing_purposes(access) == []          # the rule is the objection's only


# --- the checklist ------------------------------------------------------------------------------------------


def test_a_request_opened_through_the_api_gets_its_checklist_and_a_step_blocks_the_answer(client, app, policy, mailbox):
    _, secret = make_key("staff")
    req = make_request(policy=policy, type="rectification", subject_kind="professional", activities=["client_file"],
                       status="awaiting_identity", channel="post")
    db.session.commit()
    res = act(client, secret, req.reference, action="verify_identity", method="in_person")
    assert res.status_code == 200, res.get_json()
    steps = {(s.step_key, s.scope): s for s in fresh(req.reference).steps}
    # GDPR art. 16: check the accuracy, then correct per activity; the letter and the art. 19 notices are not
    # ticked by a person (the answer writes the one, the art. 19 tasks track the other).
    assert set(steps) == {("verify_correction", ""), ("apply_rectification", "client_file")}
    res = act(client, secret, req.reference, action="answer", outcome="granted", message="Corrigé.")
    assert res.status_code == 409
    assert res.get_json()["error"] == "step_open" and "Vérifier l'exactitude des données demandées" in res.get_json()["message"]
    # A refusal gives nothing: it needs no step done first (reasons and remedies still required, GDPR art. 12(4)).
    assert "verify_correction" in [s.step_key for s in checklist.open_required(fresh(req.reference), Status.ANSWERED)]
    for step in steps.values():
        assert act(client, secret, req.reference, action="complete_step", step_id=step.id).status_code == 200
    again = act(client, secret, req.reference, action="complete_step", step_id=steps[("verify_correction", "")].id)
    assert again.status_code == 409 and again.get_json()["error"] == "step_done"
    ticked = db.session.scalars(sa.select(Event).where(Event.action == "step_done")).all()
    assert len(ticked) == 2 and all(e.actor_type == "api" for e in ticked)
    res = act(client, secret, req.reference, action="answer", outcome="granted", message="Corrigé.")
    assert res.status_code == 200, res.get_json()


def test_a_step_required_before_closing_blocks_the_closure_and_says_which(client, app, policy):
    _, secret = make_key("staff")
    req = make_request(policy=policy, type="objection", subject_kind="prospect", activities=["client_file"],
                       status=Status.ANSWERED, outcome="granted")
    db.session.add(RequestStep(request=req, step_key="add_to_suppression_list", scope="", required=True,
                               required_before="closed", source="policy"))
    db.session.commit()
    res = act(client, secret, req.reference, action="close")
    assert res.status_code == 409
    assert res.get_json()["error"] == "step_open"
    assert "liste d'opposition à la prospection" in res.get_json()["message"] and "art. 21(3)" in res.get_json()["message"]
    assert fresh(req.reference).status == Status.ANSWERED


def test_the_task_page_shows_the_checklist_and_the_professional_ticks_it(app, client, policy):
    pro = professional(first_name="Hélène", last_name="Garnier", email="dr.garnier@example.test")
    care_link(pro, email="camille@example.test")
    req = patient_request(policy, email="camille@example.test", received_at=utcnow() - timedelta(days=2))
    checklist.open_checklist(req, Actor.system())
    assert routing.auto_route(req, Actor.system()) == "routed_to_professional"
    db.session.commit()
    task = task_of(req)
    page = text(client.get(task_path(task)))
    assert "Avant de répondre" in page and "Vérifier les données concernant des tiers" in page and "RGPD art. 15(4)" in page
    answer = client.post(task_path(task, "answer"), data={
        "outcome": "granted", "message": "Voici la copie.",
        "files": [(io.BytesIO(valid_pdf()), "dossier.pdf", "application/pdf")]}, content_type="multipart/form-data")
    assert answer.status_code == 409
    assert "l'étape « Rassembler les données détenues" in text(answer) or "l'étape « Vérifier les données" in text(answer)
    assert not [d for d in fresh(req.reference).documents if d.kind == DocumentKind.ANSWER]  # no file stored
    for step in fresh(req.reference).steps:
        res = client.post(task_path(task, "step"), data={"step_id": str(step.id), "note": "Vu"})
        assert res.status_code == 303
    page = text(client.get(task_path(task)))
    assert "Faite le" in page and "Hélène Garnier" in page
    answer = answer_task_page(client, task, {
        "outcome": "granted", "message": "Voici la copie.",
        "files": [(io.BytesIO(valid_pdf()), "dossier.pdf", "application/pdf")]}, content_type="multipart/form-data")
    assert answer.status_code == 303, text(answer)[-1500:]
    assert fresh(req.reference).status == Status.ANSWERED


def test_a_bad_step_id_is_a_clear_4xx(client, app, policy):
    _, secret = make_key("staff")
    req = prospect_objection(policy)
    assert act(client, secret, req.reference, action="complete_step", step_id=999999).status_code == 404
    other = prospect_objection(policy)
    foreign = other.steps[0].id
    assert act(client, secret, req.reference, action="complete_step", step_id=foreign).status_code == 404
    assert act(client, secret, req.reference, action="complete_step", step_id="x").status_code == 422
