"""The back-office forms of the rights executed on the systems, over HTTP (issue 17).

GDPR art. 18(3): the requester is told before a restriction is lifted — the "lift" button is refused (409, a
clear message, nothing written) until the "tell the requester" button sent the email and recorded the audit
event. Against the application database of ``tests/appdb.py`` (PostgreSQL + RQ on the PostgreSQL pass).
"""
from __future__ import annotations

import sqlalchemy as sa

from dsar.extensions import db
from dsar.models import OutboxMessage
from dsar.models.enums import RequestType, Status, SubjectKind
from dsar.models.execution import DryRun, DryRunStatus
from dsar.systems import execution
from tests.appdb import appdb  # noqa: F401 - the fixture
from tests.backoffice_support import signed_in_client
from tests.collection_support import events
from tests.outbox_support import email_of
from tests.factories import make_request
from tests.functional.test_execution import policy, run_all, sapp, staff  # noqa: F401 - fixtures


def _request(policy, type, **kw):
    req = make_request(policy=policy, type=type, subject_kind=SubjectKind.PATIENT, status=Status.IN_PROGRESS,
                       email="alice@app.test", external_account_id="pat-alice", activities=["application"], **kw)
    db.session.commit()
    return req


def _alice(appdb):
    [row] = appdb.rows("accounts", "external_id = 'pat-alice'")
    return row


def _post(client, req, path, **data):
    return client.post(f"/backoffice/requests/{req.reference}/execution/{path}", data=data)


def _run_dry_run_through_the_panel(sapp, client, req, verb):
    dr = execution.current_dry_run(req, verb)
    assert _post(client, req, f"{dr.id}/approve").status_code == 303
    assert _post(client, req, f"{dr.id}/execute").status_code == 303
    run_all(sapp)
    db.session.expire_all()
    return db.session.get(DryRun, dr.id)


def test_a_restriction_is_lifted_from_the_back_office_only_after_the_requester_was_told(sapp, appdb, policy):
    req = _request(policy, RequestType.RESTRICTION)
    client, _ = signed_in_client(sapp, "dpo")
    # Restrict: compute, approve, execute, all from the panel.
    assert _post(client, req, "dry-run").status_code == 303
    assert _run_dry_run_through_the_panel(sapp, client, req, "restriction").status == DryRunStatus.EXECUTED
    assert _alice(appdb)["restricted"] in (True, 1)
    page = client.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    assert 'id="restriction-announce-lift"' in page and "il faut en informer le demandeur (RGPD art. 18(3))" in page
    # Lifting before the requester was told: refused, with the reason, nothing computed.
    r = _post(client, req, "lift")
    assert r.status_code == 409
    assert "Informez le demandeur avant de lever la limitation (RGPD art. 18(3))." in r.get_data(as_text=True)
    db.session.expire_all()
    assert execution.current_dry_run(req, "lift_restriction") is None
    assert db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.request_id == req.id)).all() == []
    # Tell the requester: an email (in their language) and an audit event.
    assert _post(client, req, "announce-lift").status_code == 303
    db.session.expire_all()
    [mail] = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.request_id == req.id)).all()
    assert mail.recipient == "alice@app.test" and "18(3)" in email_of(mail).text
    [told] = events(req, "restriction_lift_announced")
    assert told.details == {"gdpr": "art. 18(3)"}
    page = client.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    assert 'id="restriction-announce-lift"' not in page and "Le demandeur a été informé le" in page
    # Now lift: a dry run of the lift, approved and executed from the panel.
    assert _post(client, req, "lift").status_code == 303
    lift = _run_dry_run_through_the_panel(sapp, client, req, "lift_restriction")
    assert lift.status == DryRunStatus.EXECUTED
    assert _alice(appdb)["restricted"] in (False, 0)
    db.session.expire_all()
    page = client.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    assert 'id="restriction-lift"' not in page          # no restriction in place any more
    assert _post(client, req, "announce-lift").status_code == 409


def test_an_agent_may_tell_the_requester_but_not_lift(sapp, appdb, policy):
    req = _request(policy, RequestType.RESTRICTION)
    client, _ = signed_in_client(sapp, "agent")
    assert _post(client, req, "lift").status_code == 403


def test_a_rectification_goes_from_the_requesters_proposal_to_the_staffs_approval_to_the_system(sapp, appdb, policy):
    """GDPR art. 16: the requester proposes on the status page (only the fields the map allows, values checked
    against the live column), staff edit the proposal and add one, approve the dry run, and the application's
    row changes through the update verb; before/after kept encrypted, audit without values, letter says what."""
    from dsar.models import Rectification
    from dsar.services import actions
    from dsar.systems import rights
    from dsar.tokens import status_token
    from tests.appdb import row_checksums
    from tests.fulfilment_support import pdf_text, read_stored

    req = _request(policy, RequestType.RECTIFICATION)
    token = status_token(req)
    db.session.commit()
    public = sapp.test_client()
    page = public.get(f"/status/{token}").get_data(as_text=True)
    assert 'id="rectification"' in page and "application.accounts.mobile" in page
    assert "application.accounts.password_hash" not in page
    # A field the map does not allow, a date that is not one, an empty value: 422, the reason, nothing kept.
    r = public.post(f"/status/{token}/rectification", data={"field": "application.accounts.password_hash",
                                                            "value": "x"})
    assert r.status_code == 422 and "ne peut pas être rectifié" in r.get_data(as_text=True)
    r = public.post(f"/status/{token}/rectification", data={"field": "application.patients.birth_date",
                                                            "value": "le 3 janvier"})
    assert r.status_code == 422 and "AAAA-MM-JJ" in r.get_data(as_text=True)
    r = public.post(f"/status/{token}/rectification", data={"field": "application.accounts.mobile", "value": " "})
    assert r.status_code == 422
    db.session.expire_all()
    assert db.session.scalars(sa.select(Rectification)).all() == []
    # The requester's proposal, then a correction of it by staff, and a second field proposed by staff.
    assert public.post(f"/status/{token}/rectification", data={"field": "application.accounts.mobile",
                                                               "value": "+33699999990"}).status_code == 303
    client, _ = signed_in_client(sapp, "dpo")
    assert _post(client, req, "rectification", field="application.accounts.mobile",
                 value="+33699999999").status_code == 303
    assert _post(client, req, "rectification", field="application.patients.birth_date",
                 value="1980-01-03").status_code == 303
    r = _post(client, req, "rectification", field="application.accounts.kind", value="admin")
    assert r.status_code == 422 and "ne peut pas être rectifié" in r.get_data(as_text=True)
    db.session.expire_all()
    req = db.session.get(type(req), req.id)
    assert sorted((p["field"], p["value"], p["status"]) for p in rights.proposals(req)) == [
        ("application.accounts.mobile", "+33699999999", "proposed"),
        ("application.patients.birth_date", "1980-01-03", "proposed")]
    assert [e.details["column"] for e in events(req, "rectification_replaced")] == ["mobile"]
    # Dry run, approval, execution from the panel.
    before = row_checksums(appdb.write_url)
    assert _post(client, req, "dry-run").status_code == 303
    dr = _run_dry_run_through_the_panel(sapp, client, req, "rectification")
    assert dr.status == DryRunStatus.EXECUTED
    assert sorted((l.table, l.action, l.columns, l.done_rows) for l in dr.lines) == [
        ("accounts", "update", ["mobile"], 1), ("patients", "update", ["birth_date"], 1)]
    alice = _alice(appdb)
    assert alice["mobile"] == "+33699999999"
    [patient] = appdb.rows("patients", "account_id = :a", a=alice["id"])
    assert str(patient["birth_date"]) == "1980-01-03"
    after = row_checksums(appdb.write_url)
    changed = {(t, pk) for t, rows in before.items() for pk, h in rows.items() if after[t].get(pk) != h}
    assert changed == {("accounts", (alice["id"],)), ("patients", (patient["id"],))}
    applied = [r for r in db.session.scalars(sa.select(Rectification)) if r.status == "applied"]
    assert len(applied) == 2 and all("+336" not in r.after_sealed and "1980" not in (r.before_sealed or "")
                                     for r in applied)
    assert {str(e.details) for e in events(req, "rectification_applied")} and not any(
        "+336" in str(e.details) or "1980" in str(e.details) for e in events(req, "rectification_proposed")
        + events(req, "rectification_applied"))
    # The answer's letter says what was changed.
    actions.answer(req, staff(), outcome="granted", message="Vos données ont été corrigées.")
    db.session.commit()
    db.session.expire_all()
    req = db.session.get(type(req), req.id)
    letter = next(d for d in req.documents if d.kind == "letter")
    text = pdf_text(read_stored(letter))
    assert "Ce qui a été modifié dans nos systèmes" in text
    assert "+33699999999" in text and "1980-01-03" in text
    assert "+33611000001" not in text and "+33699999990" not in text   # neither the old value nor the replaced one
