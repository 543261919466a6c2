"""Executing an erasure on the application database (issue 17): dry run, approval, capture, runs, resume.

Against the same application database as the collection tests (``tests/appdb.py``: a private PostgreSQL
database on the PostgreSQL pass). GDPR art. 17(1) and (3), policy art. 8.2 (shared health content: the
professional in charge approves) and art. 12 (what is archived, what is kept and until when).
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from dsar import lifecycle
from dsar.actors import Actor
from dsar.deadlines import legal_day
from dsar.errors import IllegalTransition
from dsar.extensions import db
from dsar.models import CapturedKeys, DryRun, SystemRun
from dsar.models.enums import IdentityMethod, RequestType, Status, SubjectKind
from dsar.models.execution import DryRunStatus
from dsar.systems import execution
from dsar.systems.connectors import connector_for
from dsar.systems.runs import identities_of
from tests.appdb import appdb, row_checksums  # noqa: F401 - the fixture
from tests.collection_support import events, run_jobs_of, systems_app
from tests.factories import make_request, make_staff


@pytest.fixture
def sapp(make_app, appdb, policy_without_handover):
    # A policy that destroys shared health content on request, so that erasures reach the sealed tables and the
    # professional in charge approves (policy art. 8.2); IDOMED's own keeps it: see test_execution.py, the end.
    app = systems_app(make_app, DSAR_POLICY=policy_without_handover)
    with app.app_context():
        yield app


@pytest.fixture
def policy(sapp):
    """The systems app's policy (the conftest ``policy`` would push a second app without the systems file)."""
    return sapp.extensions["dsar_policy"]


def erasure_request(policy, *, email="alice@app.test", account="pat-alice", kind=SubjectKind.PATIENT):
    req = make_request(policy=policy, type=RequestType.ERASURE, subject_kind=kind, status=Status.IDENTITY_REVIEW,
                       email=email, external_account_id=account)
    # The request opens, with its checklist (services/checklist, on lifecycle.request_changed); then staff work on it.
    lifecycle.accept_identity(req, staff(), policy, method=IdentityMethod.ACCOUNT, received_on=legal_day(req.received_at))
    req.status = Status.IN_PROGRESS
    db.session.commit()
    return req


def staff():
    return Actor.for_staff(make_staff("dpo"))


def professional():
    return Actor.system("professional-test")


def subject_keys(sapp, req) -> dict[str, set]:
    """The subject's rows as the traversal finds them now (what the dry run counts)."""
    system = sapp.extensions["dsar_systems"].system("application")
    connector = connector_for(system)
    engine = connector.engine()
    with engine.connect() as conn:
        keys = connector.traverse(conn, identities_of(req))
    engine.dispose()
    return {t: set(ks) for t, ks in keys.keys.items()}


def approved_dry_run(req):
    dr = execution.compute_dry_run(req, staff())
    execution.approve(dr, staff())
    if dr.needs_professional:
        execution.approve_sealed(dr, professional())
    db.session.commit()
    return dr


def run_all(sapp):
    for _ in range(10):
        if not run_jobs_of(sapp):
            break


def lines_of(dr) -> dict:
    return {(l.table, l.action): l.rows for l in dr.lines}


def test_the_dry_run_of_a_patients_erasure_follows_the_retention_plan(sapp, appdb, policy):
    """Health content is erased now; identification and contract archived 10 years (evidence, policy art. 12);
    connection logs kept on their rolling window (legal obligation)."""
    req = erasure_request(policy)
    dr = execution.compute_dry_run(req, staff())
    db.session.commit()
    assert lines_of(dr) == {
        ("accounts", "keep"): 1, ("patients", "archive"): 1, ("care_links", "keep"): 2,
        ("conversations", "delete"): 2, ("conversation_members", "delete"): 4, ("messages", "delete"): 5,
        ("documents", "delete"): 2, ("connection_logs", "keep"): 3, ("devices", "delete"): 1,
    }
    by_table = {l.table: l for l in dr.lines}
    assert by_table["connection_logs"].grounds == ["evidence", "legal_obligation"]
    assert by_table["patients"].until is not None and by_table["patients"].grounds == ["evidence"]
    # Shared health content is touched: staff alone cannot release it (policy art. 8.2).
    assert dr.needs_professional and by_table["messages"].sealed
    execution.approve(dr, staff())
    assert dr.status == DryRunStatus.AWAITING_APPROVAL
    execution.approve_sealed(dr, professional())
    assert dr.status == DryRunStatus.APPROVED


def test_an_erasure_does_exactly_what_the_approved_dry_run_said_and_nothing_to_anyone_else(sapp, appdb, policy):
    req = erasure_request(policy)
    mine = subject_keys(sapp, req)
    before = row_checksums(appdb.write_url)
    dr = approved_dry_run(req)
    execution.execute(dr, staff())
    db.session.commit()
    run_all(sapp)
    db.session.expire_all()
    after = row_checksums(appdb.write_url)

    # Every other subject's rows are byte for byte the same.
    for table, rows in before.items():
        for pk, digest in rows.items():
            if pk not in mine.get(table, set()):
                assert after[table].get(pk) == digest, (table, pk)
    # Deleted what the dry run said; kept and archived the rest.
    for table in ("conversations", "conversation_members", "messages", "documents", "devices"):
        assert not (mine[table] & set(after[table])), table
        assert len(mine[table]) == lines_of(dr)[(table, "delete")]
    for table in ("accounts", "care_links", "connection_logs"):
        assert {pk: after[table][pk] for pk in mine[table]} == {pk: before[table][pk] for pk in mine[table]}
    [patient] = appdb.rows("patients", "id = :id", id=appdb.ids["patients"]["pat-alice"])
    assert patient["archived_at"] is not None and patient["birth_date"] is not None

    dr = db.session.get(DryRun, dr.id)
    assert dr.status == DryRunStatus.EXECUTED
    assert {(l.table, l.action): l.done_rows for l in dr.lines if l.action != "keep"} == {
        ("patients", "archive"): 1, ("conversations", "delete"): 2, ("conversation_members", "delete"): 4,
        ("messages", "delete"): 5, ("documents", "delete"): 2, ("devices", "delete"): 1}
    # The captured identifiers are gone once every system is done.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CapturedKeys)) == 0
    assert len(events(req, "execution_done")) == 1 and events(req, "execution_done")[0].details["captured_keys_purged"] == 1
    # The checklist's "carry out the erasure" step is ticked by the execution, with what was done.
    [step] = [s for s in db.session.get(type(req), req.id).steps if s.step_key == "execute_erasure"]
    assert step.done_at is not None and "messages delete 5" in step.note


def test_running_a_finished_erasure_again_changes_nothing(sapp, appdb, policy):
    req = erasure_request(policy)
    dr = approved_dry_run(req)
    execution.execute(dr, staff())
    db.session.commit()
    run_all(sapp)
    db.session.expire_all()
    done = row_checksums(appdb.write_url)
    [run] = db.session.scalars(sa.select(SystemRun).filter_by(request_id=req.id)).all()
    execution.execute_run(run.id)
    execution.resume(db.session.get(type(req), req.id), staff())
    db.session.commit()
    run_all(sapp)
    assert row_checksums(appdb.write_url) == done
    with pytest.raises(IllegalTransition):
        execution.execute(db.session.get(DryRun, dr.id), staff())
    assert len(events(req, "execution_attempt")) == 1


def test_a_dry_run_nobody_approved_executes_nothing(sapp, appdb, policy):
    req = erasure_request(policy)
    before = row_checksums(appdb.write_url)
    dr = execution.compute_dry_run(req, staff())
    execution.approve(dr, staff())           # staff only: the professional has not released the health content
    db.session.commit()
    with pytest.raises(execution.NotApproved) as err:
        execution.execute(dr, staff())
    assert err.value.code == "not_approved"
    db.session.rollback()
    execution.reject(db.session.get(DryRun, dr.id), staff(), reason="Wrong patient")
    db.session.commit()
    with pytest.raises(execution.NotApproved):
        execution.execute(db.session.get(DryRun, dr.id), staff())
    db.session.rollback()
    run_all(sapp)
    assert row_checksums(appdb.write_url) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SystemRun)) == 0


def test_a_stale_dry_run_is_recomputed_and_nothing_runs_until_approved_again(sapp, appdb, policy):
    req = erasure_request(policy)
    dr = approved_dry_run(req)
    # The patient writes a new message after the approval.
    engine = appdb.engine()
    with engine.begin() as conn:
        conv = appdb.ids["conversations"][0]
        acc = appdb.ids["accounts"]["pat-alice"]
        conn.execute(sa.text("INSERT INTO messages (conversation_id, sender_account_id, body, sent_at) "
                             "VALUES (:c, :a, 'encore une question', CURRENT_TIMESTAMP)"), {"c": conv, "a": acc})
    engine.dispose()
    before = row_checksums(appdb.write_url)
    fresh = execution.execute(dr, staff())
    db.session.commit()
    run_all(sapp)
    assert fresh.id != dr.id and fresh.status == DryRunStatus.AWAITING_APPROVAL
    assert lines_of(fresh)[("messages", "delete")] == 6
    assert db.session.get(DryRun, dr.id).status == DryRunStatus.SUPERSEDED
    assert row_checksums(appdb.write_url) == before
    assert events(req, "dry_run_stale")[0].details == {"dry_run": dr.id, "recomputed": fresh.id}


def test_a_value_changed_in_an_existing_row_makes_the_dry_run_stale(sapp, appdb, policy):
    """No row added or removed, but a message the erasure deletes was edited after the approval: what would
    run is no longer what was approved (the stale check hashes the acted-on columns, not only the keys)."""
    req = erasure_request(policy)
    dr = approved_dry_run(req)
    engine = appdb.engine()
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE messages SET body = 'texte corrigé' WHERE id = (SELECT min(id) FROM messages "
                             "WHERE conversation_id = :c)"), {"c": appdb.ids["conversations"][0]})
    engine.dispose()
    before = row_checksums(appdb.write_url)
    fresh = execution.execute(dr, staff())
    db.session.commit()
    run_all(sapp)
    assert fresh.id != dr.id and fresh.status == DryRunStatus.AWAITING_APPROVAL
    assert lines_of(fresh) == lines_of(dr)           # same rows, so only the values can have made it stale
    assert db.session.get(DryRun, dr.id).status == DryRunStatus.SUPERSEDED
    assert row_checksums(appdb.write_url) == before
    assert events(req, "dry_run_stale")[0].details == {"dry_run": dr.id, "recomputed": fresh.id}
    # The fresh dry run, approved, runs: its fingerprint holds the edited value.
    execution.approve(fresh, staff())
    execution.approve_sealed(fresh, professional())
    db.session.commit()
    assert execution.execute(fresh, staff()) is fresh


def test_art_19_notifications_list_only_the_recipients_of_what_was_executed(sapp, appdb, policy):
    """GDPR art. 19: a professional's erasure executed in the application only; the client file's recipients
    (accounting, CRM …) are not told of a change that did not touch their data."""
    from dsar.services import fulfilment

    req = erasure_request(policy, email="dr.martin@app.test", account="pro-martin", kind=SubjectKind.PROFESSIONAL)
    assert set(req.activities) == {"client_file", "application"}
    execution.execute(approved_dry_run(req), staff())
    db.session.commit()
    run_all(sapp)
    db.session.expire_all()
    req = db.session.get(type(req), req.id)
    tasks = fulfilment.open_recipient_notifications(req, staff())
    assert tasks and {t.activity for t in tasks} == {"application"}
    assert {r.key for r in policy.recipients_for("client_file")} - {t.recipient_key for t in tasks}


def test_the_professional_in_charge_approves_the_sealed_part_from_the_task_page(sapp, appdb, policy):
    """Policy art. 8.2: the task page shows the shared health content's tables and counts, never its content,
    and the professional's approval completes the DPO's."""
    from dsar.actors import Actor as A
    from dsar.services import routing
    from tests.factories import make_professional

    req = erasure_request(policy)
    pro = make_professional(email="dr.martin@example.test", first_name="Jeanne", last_name="Martin")
    routing.route_to_professional(req, A.system(), pro)
    dr = execution.compute_dry_run(req, staff())
    execution.approve(dr, staff())
    db.session.commit()
    token = routing.task_token(routing.live_task(req))
    client = sapp.test_client()
    page = client.get(f"/task/{token}").get_data(as_text=True)
    assert "task-erasure" in page and "messages: 5" in page and "alice→martin" not in page
    r = client.post(f"/task/{token}/erasure-approval")
    assert r.status_code == 303
    db.session.expire_all()
    dr = db.session.get(DryRun, dr.id)
    assert dr.status == DryRunStatus.APPROVED and dr.professional_approved_by
    assert events(req, "dry_run_approved_sealed")[0].actor_type == "professional"
    # A second approval is refused: nothing is recorded twice.
    assert client.post(f"/task/{token}/erasure-approval").status_code == 409


def test_with_idomeds_policy_a_patients_erasure_keeps_the_shared_health_content(make_app, appdb):
    """IDOMED's policy art. 12: conversations are "détruites après remise à l'Utilisateur Professionnel au terme de
    son contrat": the platform does not erase them on the patient's request (GDPR art. 17(3)(b)-(c)); the dry run
    keeps every sealed table on those grounds and nothing sealed waits for the professional's approval."""
    app = systems_app(make_app)
    with app.app_context():
        req = erasure_request(app.extensions["dsar_policy"])
        dr = execution.compute_dry_run(req, staff())
        db.session.commit()
        sealed = {l.table: l for l in dr.lines if l.sealed}
        assert set(sealed) >= {"messages", "documents"}
        assert {l.action for l in sealed.values()} == {"keep"}
        assert all(set(l.grounds) == {"legal_obligation", "public_health"} for l in sealed.values())
        assert lines_of(dr)[("devices", "delete")] == 1 and not dr.needs_professional
        execution.approve(dr, staff())
        assert dr.status == DryRunStatus.APPROVED
