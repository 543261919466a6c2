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
    assert mail.recipient == "alice@app.test" and "18(3)" in mail.body_text
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
