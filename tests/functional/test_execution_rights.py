"""Rectification, restriction and consent withdrawal executed on the application database (issue 17).

GDPR art. 16 (values before and after kept encrypted, change audited without them), art. 18(1) and 18(3)
(restriction marked through the map's column; lifted only after the requester was told), policy art. 8.2
(withdrawal of consent for health data deactivates the account through the application's system)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from dsar.errors import IllegalTransition, InvalidInput
from dsar.extensions import db
from dsar.models import OutboxMessage
from dsar.models.enums import RequestType, Status, SubjectKind
from dsar.models.execution import RectificationStatus
from dsar.services import actions
from dsar.systems import execution, rights
from tests.appdb import appdb, row_checksums  # noqa: F401 - the fixture
from tests.collection_support import events
from tests.factories import make_request
from tests.outbox_support import email_of, text_as_sent
from tests.functional.test_execution import policy, run_all, sapp, staff  # noqa: F401 - fixtures


def _request(policy, type):
    req = make_request(policy=policy, type=type, subject_kind=SubjectKind.PATIENT, status=Status.IN_PROGRESS,
                       email="alice@app.test", external_account_id="pat-alice", activities=["application"])
    db.session.commit()
    return req


def _approve(dr):
    execution.approve(dr, staff())
    if dr.needs_professional:
        execution.approve_sealed(dr, staff())
    db.session.commit()
    return dr


def _alice(appdb):
    [row] = appdb.rows("accounts", "external_id = 'pat-alice'")
    return row


def test_a_rectification_changes_only_the_field_and_keeps_before_and_after_encrypted(sapp, appdb, policy):
    req = _request(policy, RequestType.RECTIFICATION)
    with pytest.raises(InvalidInput) as err:
        rights.propose_rectification(req, staff(), system="application", table="accounts", column="password_hash",
                                     value="x")
    assert err.value.code == "not_rectifiable"
    r = rights.propose_rectification(req, staff(), system="application", table="accounts", column="mobile",
                                     value="+33699999999")
    db.session.commit()
    assert "+33699999999" not in r.after_sealed
    before = row_checksums(appdb.write_url)
    dr = _approve(rights.rectification_dry_run(req, staff()))
    assert [(l.table, l.action, l.rows, l.columns) for l in dr.lines] == [("accounts", "update", 1, ["mobile"])]
    rights.execute_rectification(dr, staff())
    db.session.commit()
    run_all(sapp)
    db.session.expire_all()
    alice = _alice(appdb)
    assert alice["mobile"] == "+33699999999"
    after = row_checksums(appdb.write_url)
    changed = {(t, pk) for t, rows in before.items() for pk, h in rows.items() if after[t].get(pk) != h}
    assert changed == {("accounts", (alice["id"],))}
    r = db.session.get(type(r), r.id)
    assert r.status == RectificationStatus.APPLIED and r.rows == 1
    values = rights.rectification_values(r)
    assert values["after"] == "+33699999999" and values["before"] == [[[alice["id"]], {"mobile": "+33611000001"}]]
    [ev] = events(req, "rectification_applied")
    assert ev.details["column"] == "mobile" and "+336" not in str(ev.details)


def test_a_restriction_is_marked_and_lifted_only_after_the_requester_is_told(sapp, appdb, policy):
    req = _request(policy, RequestType.RESTRICTION)
    dr = _approve(execution.compute_dry_run(req, staff(), verb="restriction"))
    assert [(l.table, l.action, l.columns) for l in dr.lines] == [("accounts", "set", ["restricted"])]
    execution.execute(dr, staff())
    db.session.commit()
    run_all(sapp)
    assert _alice(appdb)["restricted"] is True or _alice(appdb)["restricted"] == 1
    with pytest.raises(IllegalTransition) as err:
        execution.compute_dry_run(req, staff(), verb="lift_restriction")
    assert err.value.code == "lift_not_announced"
    db.session.rollback()
    rights.announce_lift(req, staff())
    db.session.commit()
    [mail] = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.request_id == req.id)).all()
    assert "18(3)" in email_of(mail).text
    lift = _approve(rights.lift_dry_run(req, staff()))
    execution.execute(lift, staff())
    db.session.commit()
    run_all(sapp)
    assert not _alice(appdb)["restricted"]


def test_withdrawing_consent_to_health_data_deactivates_the_account_through_the_application(sapp, appdb, policy):
    req = _request(policy, RequestType.CONSENT_WITHDRAWAL)
    assert _alice(appdb)["deactivated_at"] is None
    actions.answer(req, staff(), outcome="granted", message="Votre compte est désactivé.")
    db.session.commit()
    run_all(sapp)
    db.session.expire_all()
    assert _alice(appdb)["deactivated_at"] is not None
    req = db.session.get(type(req), req.id)
    assert req.account_deactivation.status == "confirmed"
    assert req.account_deactivation.confirmed_by == "dsar"
    assert [e.details.get("through") for e in events(req, "account_deactivation_requested")] == ["systems"]


def test_an_http_system_gets_the_erasure_as_a_signed_call_and_its_count_is_kept(make_app, appdb, tmp_path,
                                                                                 monkeypatch):
    """The billing application verifies dsar's signature (a forged one is refused with 401) and says how many
    records it erased; the identifiers sent are captured first and purged at the end."""
    from dsar.models import CapturedKeys, SystemRun
    from tests.appdb import SYSTEMS_FILE
    from tests.collection_support import systems_app
    from tests.functional.test_collection_http_manual import EXTRA, SECRET
    from tests.systems_http_app import BillingApp

    path = tmp_path / "billing.systems.yaml"
    path.write_text(SYSTEMS_FILE.read_text() + EXTRA.split("  archives:")[0])
    with BillingApp(SECRET) as billing:
        monkeypatch.setenv("DSAR_BILLING_URL", billing.url)
        monkeypatch.setenv("DSAR_BILLING_SECRET", SECRET)
        app = systems_app(make_app, path)
        with app.app_context():
            policy = app.extensions["dsar_policy"]
            req = make_request(policy=policy, type=RequestType.ERASURE, subject_kind=SubjectKind.PROSPECT,
                               status=Status.IN_PROGRESS, email="dr.martin@app.test", activities=["client_file"])
            db.session.commit()
            dr = _approve(execution.compute_dry_run(req, staff()))
            assert [(l.system, l.action, l.categories) for l in dr.lines] == [
                ("billing", "call", ["contract"]), ("billing", "keep", ["banking"])]
            execution.execute(dr, staff())
            db.session.commit()
            run_all(app)
            db.session.expire_all()
            [call] = billing.received
            assert call["path"] == "/execute" and call["delivery"] == call["payload"]["delivery"]
            assert call["payload"]["verb"] == "erasure" and call["payload"]["categories"] == ["contract"]
            assert call["payload"]["subject"]["identities"]["email"] == ["dr.martin@app.test"]
            [run] = db.session.query(SystemRun).filter_by(request_id=req.id).all()
            assert run.status == "done" and run.rows == {"_records": 2}
            assert db.session.query(CapturedKeys).count() == 0
            assert [e.details["records"] for e in events(req, "execution_call_done")] == [2]


def test_a_manual_systems_owner_confirms_the_records_handled_and_the_erasure_completes(make_app, appdb, tmp_path, smtp_server,
                                                                                      monkeypatch):
    """The owner gets a link (stored hashed), sees what to do and for whom, confirms how many records they
    handled: stored on the run, audited; only then is the dry run executed and the identifiers purged."""
    import re

    from dsar.models import CapturedKeys, DryRun, SystemRun
    from tests.appdb import SYSTEMS_FILE
    from tests.collection_support import systems_app
    from tests.functional.test_collection_http_manual import EXTRA, SECRET
    from tests.systems_http_app import BillingApp

    path = tmp_path / "mixed.systems.yaml"
    path.write_text(SYSTEMS_FILE.read_text() + EXTRA)
    with BillingApp(SECRET) as billing:
        monkeypatch.setenv("DSAR_BILLING_URL", billing.url)
        monkeypatch.setenv("DSAR_BILLING_SECRET", SECRET)
        app = systems_app(make_app, path)
        with app.app_context():
            policy = app.extensions["dsar_policy"]
            req = make_request(policy=policy, type=RequestType.ERASURE, subject_kind=SubjectKind.PROSPECT,
                               status=Status.IN_PROGRESS, email="dr.martin@app.test", activities=["client_file"])
            db.session.commit()
            dr = _approve(execution.compute_dry_run(req, staff()))
            assert ("archives", "owner_task", ["contract"]) in [(l.system, l.action, l.categories) for l in dr.lines]
            execution.execute(dr, staff())
            db.session.commit()
            run_all(app)
            db.session.expire_all()
            runs = {r.system_key: r for r in db.session.query(SystemRun).filter_by(request_id=req.id)}
            assert runs["billing"].status == "done" and runs["archives"].status == "waiting_owner"
            assert db.session.get(DryRun, dr.id).status == "executing"
            [mail] = [m for m in db.session.query(OutboxMessage).filter_by(request_id=req.id)
                      if m.recipient == "compta@example.test"]
            token = re.search(r"/systems/execute/([A-Za-z0-9_-]+)", text_as_sent(mail, smtp_server)).group(1)
            assert runs["archives"].owner_token_hash and token not in runs["archives"].owner_token_hash
            client = app.test_client()
            page = client.get(f"/systems/execute/{token}").get_data(as_text=True)
            assert "dr.martin@app.test" in page and "contract" in page
            assert client.post(f"/systems/execute/{token}", data={"records": "many"}).status_code == 422
            r = client.post(f"/systems/execute/{token}", data={"records": "4", "note": "Dossier papier détruit"})
            assert r.status_code == 200 and "owner-done" in r.get_data(as_text=True)
            db.session.expire_all()
            run = db.session.get(SystemRun, runs["archives"].id)
            assert run.status == "done" and run.rows == {"_records": 4} and run.owner_token_hash is None
            assert db.session.get(DryRun, dr.id).status == "executed"
            assert db.session.query(CapturedKeys).count() == 0
            assert [e.details["records"] for e in events(req, "manual_execution_confirmed")] == [4]
            assert client.get(f"/systems/execute/{token}").status_code == 404      # the link is spent


def test_a_proposal_edited_after_the_approval_supersedes_the_dry_run(sapp, appdb, policy):
    """What staff approved is what runs: a new value proposed after the approval (by the requester or staff)
    supersedes the approved dry run, which can no longer execute; a new dry run must be approved."""
    from dsar.models.execution import DryRunStatus
    from dsar.systems.execution import NotApproved

    req = _request(policy, RequestType.RECTIFICATION)
    rights.propose_rectification(req, staff(), system="application", table="accounts", column="mobile",
                                 value="+33699999999")
    dr = _approve(rights.rectification_dry_run(req, staff()))
    before = row_checksums(appdb.write_url)
    rights.propose_rectification(req, staff(), system="application", table="accounts", column="mobile",
                                 value="+33688888888")
    db.session.commit()
    assert dr.status == DryRunStatus.SUPERSEDED
    with pytest.raises(NotApproved):
        rights.execute_rectification(dr, staff())
    db.session.rollback()
    run_all(sapp)
    assert row_checksums(appdb.write_url) == before
    assert [e.details["reason"] for e in events(req, "dry_run_superseded")] == ["rectification_proposed"]
    with pytest.raises(IllegalTransition) as err:
        rights.propose_rectification(_request(policy, RequestType.ERASURE), staff(), system="application",
                                     table="accounts", column="mobile", value="+33600000000")
    assert err.value.code == "not_rectification"
