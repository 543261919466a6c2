"""Automated collection (issue 16): a verified access request opens, each system is collected, the pack is built.

Real application database (tests/appdb.py): PostgreSQL with RQ workers on the
PostgreSQL pass, a SQLite file with in-process jobs on the SQLite pass.
"""
from __future__ import annotations

import csv
import io
import json

import pytest

from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import CollectionPack
from dsar.models.enums import RequestType, SubjectKind
from dsar.models.systems import PackStatus, RunStatus
from dsar.systems import packs
from tests.appdb import appdb  # noqa: F401 - the fixture
from tests.collection_support import (
    check_manifest, events, open_request, pack_doc, read_pack, run_jobs_of, runs, systems_app,
)


@pytest.fixture
def sapp(make_app, appdb):
    app = systems_app(make_app)
    with app.app_context():
        yield app


def _run_all(sapp, run_jobs=None):
    for _ in range(5):
        if not run_jobs_of(sapp):
            break


def _release(req):
    packs.release(req, Actor.system("professional-test"))
    db.session.commit()


def test_a_patients_access_request_collects_exactly_their_rows_through_joins(sapp, appdb):
    policy = sapp.extensions["dsar_policy"]
    req = open_request(policy, email="alice@app.test")
    _run_all(sapp)
    run = runs(req)["application"]
    assert run.status == RunStatus.DONE, run.error
    alice_pat = appdb.ids["patients"]["pat-alice"]
    convs = [r["id"] for r in appdb.rows("conversations", "patient_id = :p", p=alice_pat)]
    msgs = [r for r in appdb.rows("messages") if r["conversation_id"] in convs]
    assert run.rows["messages"] == len(msgs) == 5
    assert run.rows["documents"] == 2 and run.rows["accounts"] == 1 and run.rows["invoices"] == 0
    assert len(run.sha256) == 64
    # Shared health content: the pack waits for the professional (policy art. 8.2).
    pack = db.session.query(CollectionPack).filter_by(request_id=req.id).one()
    assert pack.status == PackStatus.WAITING_REVIEW and pack.sealed_rows == 2 + 5 + 2
    assert pack_doc(req) is None
    _release(req)
    _run_all(sapp)
    zf = read_pack(sapp, pack_doc(req))
    manifest = check_manifest(zf)
    assert "conversations" in manifest["categories_found"]
    bodies = [m["body"] for m in json.loads(zf.read("data/conversations/application-messages.json"))]
    assert sorted(bodies) == sorted(m["body"] for m in msgs)
    assert not any("bruno" in b or "chloe" in b for b in bodies)
    rows = list(csv.DictReader(io.StringIO(zf.read("data/conversations/application-messages.csv").decode())))
    assert set(rows[0]) == {"id", "conversation_id", "sender_account_id", "body", "sent_at", "read_at"}
    accounts = json.loads(zf.read("data/identification/application-accounts.json"))
    assert [a["email"] for a in accounts] == ["alice@app.test"]
    assert "password_hash" not in zf.read("data/identification/application-accounts.csv").decode()
    # The checklist's "gather the data" step is ticked by the collection itself, with the pack's hash.
    db.session.expire_all()
    [gather] = [s for s in db.session.get(type(req), req.id).steps if s.step_key == "gather_data"]
    assert gather.done_at is not None and pack_doc(req).sha256[:12] in gather.note
    docs = [n for n in zf.namelist() if n.startswith("documents/")]
    assert len(docs) == 2 and all(zf.read(n).startswith(b"%PDF") for n in docs)
    summary = zf.read("summary.txt").decode()
    assert req.reference in summary and "Application Idomed" in summary
    for name in zf.namelist():
        if name.endswith(".json"):
            json.loads(zf.read(name))


def test_a_professionals_request_collects_their_own_rows_and_no_patient_conversation(sapp, appdb):
    policy = sapp.extensions["dsar_policy"]
    req = open_request(policy, email="dr.martin@app.test", subject_kind=SubjectKind.PROFESSIONAL)
    _run_all(sapp)
    run = runs(req)["application"]
    assert run.status == RunStatus.DONE, run.error
    assert run.rows["professionals"] == 1 and run.rows["invoices"] == 2 and run.rows["marketing_contacts"] == 1
    assert run.rows["conversations"] == 0 and run.rows["messages"] == 0 and run.rows["documents"] == 0
    zf = read_pack(sapp, pack_doc(req))  # nothing sealed: no review needed
    manifest = check_manifest(zf)
    invoices = json.loads(zf.read("data/contract/application-invoices.json"))
    mine = appdb.rows("invoices", "professional_id = :p", p=appdb.ids["professionals"]["pro-martin"])
    assert sorted(i["number"] for i in invoices) == sorted(r["number"] for r in mine)
    assert "conversations" not in manifest["categories_found"]
    assert not [n for n in zf.namelist() if n.startswith("documents/")]


def test_portability_pack_holds_portable_categories_only(sapp, appdb):
    policy = sapp.extensions["dsar_policy"]
    req = open_request(policy, email="dr.durand@app.test", subject_kind=SubjectKind.PROFESSIONAL,
                       type=RequestType.PORTABILITY)
    _run_all(sapp)
    zf = read_pack(sapp, pack_doc(req))
    manifest = check_manifest(zf)
    portable = {c.key for c in policy.data_categories if c.activity == "application" and c.portable}
    assert manifest["pack"] == "portability"
    assert set(manifest["categories_found"]) <= portable
    assert "payment_status" not in manifest["categories_found"]      # not provided by the person (art. 20)
    assert "identification" in manifest["categories_found"]


def test_collection_is_audited_and_never_runs_twice(sapp, appdb):
    policy = sapp.extensions["dsar_policy"]
    req = open_request(policy, email="bruno@app.test")
    _run_all(sapp)
    assert [e.details["systems"] for e in events(req, "collection_started")] == [["application"]]
    done = events(req, "collection_done")
    assert len(done) == 1 and done[0].details["rows"]["messages"] == 2
    from dsar.systems.collection import collect_run, start_collection

    run = runs(req)["application"]
    collect_run(run.id)                       # a duplicate delivery does nothing
    assert start_collection(req, Actor.system()) == []
    db.session.commit()
    assert len(events(req, "collection_attempt")) == 1


def test_no_systems_file_means_no_collection(app):
    policy = app.extensions["dsar_policy"]
    req = open_request(policy, email="alice@app.test")
    run_jobs_of(app)
    assert runs(req) == {}
