"""An http system (a real HTTP server on loopback verifying dsar's signature) and a manual system (its owner
answers through the task link) collected into the same pack as the SQL system; a forged or expired signature
is refused by the test application and shown to the DPO as a failed system, with "run again" (issue 16)."""
from __future__ import annotations

import io
import json
import re
import time as real_time

import pytest

from dsar.extensions import db
from dsar.models.enums import SubjectKind
from dsar.models.systems import RunStatus
from tests.appdb import SYSTEMS_FILE, appdb  # noqa: F401 - the fixture
from tests.backoffice_support import signed_in_client
from tests.collection_support import (
    check_manifest, events, open_request, pack_doc, read_pack, run_jobs_of, runs, systems_app,
)
from tests.systems_http_app import BillingApp

SECRET = "whsec_test_billing_secret"
EXTRA = """
  billing:
    name: {fr: Facturation, en: Billing}
    kind: http
    activity: client_file
    endpoint_env: DSAR_BILLING_URL
    secret_env: DSAR_BILLING_SECRET
    timeout_seconds: 5
    categories: [contract, banking]
  archives:
    name: {fr: Archives comptables, en: Accounting archives}
    kind: manual
    activity: client_file
    owner: {name: Comptabilité, email: compta@example.test}
    categories: [contract, banking]
"""


@pytest.fixture
def billing():
    with BillingApp(SECRET) as app:
        yield app


@pytest.fixture
def mixed_app(make_app, appdb, billing, tmp_path, monkeypatch):
    path = tmp_path / "mixed.systems.yaml"
    path.write_text(SYSTEMS_FILE.read_text() + EXTRA)
    monkeypatch.setenv("DSAR_BILLING_URL", billing.url)
    monkeypatch.setenv("DSAR_BILLING_SECRET", SECRET)
    app = systems_app(make_app, path)
    with app.app_context():
        yield app


def _drain(app):
    for _ in range(6):
        if not run_jobs_of(app):
            break


def _owner_token(mailbox) -> str:
    msgs = mailbox.wait_for(1)
    mine = [m for m in msgs if "compta@example.test" in m["To"]]
    assert mine, [m["To"] for m in msgs]
    match = re.search(r"/systems/owner/([A-Za-z0-9_-]+)", mailbox.text(mine[-1]))
    return match.group(1)


def test_sql_http_and_manual_systems_are_collected_into_one_pack(mixed_app, billing, mailbox):
    policy = mixed_app.extensions["dsar_policy"]
    req = open_request(policy, email="dr.martin@app.test", subject_kind=SubjectKind.PROFESSIONAL)
    _drain(mixed_app)
    state = runs(req)
    assert state["application"].status == RunStatus.DONE
    assert state["billing"].status == RunStatus.DONE, state["billing"].error
    assert state["billing"].rows == {"invoices": 2, "bank_details": 1}
    assert state["archives"].status == RunStatus.WAITING_OWNER
    sent = billing.received[0]
    assert sent["path"] == "/collect" and sent["delivery"] == f"collect-{state['billing'].id}"
    assert sent["payload"]["subject"]["identities"]["email"] == ["dr.martin@app.test"]
    assert pack_doc(req) is None  # the manual system has not answered yet

    token = _owner_token(mailbox)
    client = mixed_app.test_client()
    page = client.get(f"/systems/owner/{token}")
    assert page.status_code == 200 and "dr.martin@app.test" in page.get_data(as_text=True)
    csv_export = b"ledger_entry,amount\nL-1,49.00\nL-2,49.00\n"
    resp = client.post(f"/systems/owner/{token}", data={
        "answer": "export", "category": "contract", "file": (io.BytesIO(csv_export), "export.csv")},
        content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    _drain(mixed_app)
    assert runs(req)["archives"].status == RunStatus.DONE
    assert client.get(f"/systems/owner/{token}").status_code == 404  # the link is used up
    answered = events(req, "manual_system_answered")
    assert len(answered) == 1 and answered[0].details["answer"] == "export" and answered[0].details["rows"] == 2

    zf = read_pack(mixed_app, pack_doc(req))
    check_manifest(zf)
    names = set(zf.namelist())
    assert {"data/contract/billing-invoices.json", "data/banking/billing-bank_details.csv",
            "data/contract/archives-export.json", "data/contract/application-invoices.json"} <= names
    assert [r["number"] for r in json.loads(zf.read("data/contract/billing-invoices.json"))] == ["B-2026-001",
                                                                                                 "B-2026-002"]
    assert [r["ledger_entry"] for r in json.loads(zf.read("data/contract/archives-export.json"))] == ["L-1", "L-2"]


def test_nothing_held_is_an_answer(mixed_app, mailbox):
    policy = mixed_app.extensions["dsar_policy"]
    req = open_request(policy, email="dr.durand@app.test", subject_kind=SubjectKind.PROFESSIONAL)
    _drain(mixed_app)
    token = _owner_token(mailbox)
    client = mixed_app.test_client()
    assert client.post(f"/systems/owner/{token}", data={"answer": "nothing_held"}).status_code == 200
    _drain(mixed_app)
    run = runs(req)["archives"]
    assert run.status == RunStatus.DONE and run.owner_answer == "nothing_held" and run.rows == {}
    assert events(req, "manual_system_answered")[0].details["answer"] == "nothing_held"
    assert pack_doc(req) is not None


def test_a_refused_export_writes_nothing(mixed_app, mailbox):
    policy = mixed_app.extensions["dsar_policy"]
    req = open_request(policy, email="dr.durand@app.test", subject_kind=SubjectKind.PROFESSIONAL)
    _drain(mixed_app)
    token = _owner_token(mailbox)
    resp = mixed_app.test_client().post(f"/systems/owner/{token}", data={
        "answer": "export", "category": "contract", "file": (io.BytesIO(b"MZ\x90\x00binary"), "x.exe")},
        content_type="multipart/form-data")
    assert resp.status_code == 422 and "ne peut pas être accepté" in resp.get_data(as_text=True)
    assert runs(req)["archives"].status == RunStatus.WAITING_OWNER


@pytest.mark.parametrize("how", ["forged", "expired"])
def test_a_forged_or_expired_signature_is_refused_and_shown_to_the_dpo(mixed_app, billing, monkeypatch, how):
    from dsar.systems.connectors import http as http_connector

    if how == "forged":
        monkeypatch.setenv("DSAR_BILLING_SECRET", "whsec_not_the_right_one")
    else:
        class _Past:
            @staticmethod
            def time():
                return real_time.time() - 3600

            sleep = staticmethod(lambda s: None)

        monkeypatch.setattr(http_connector, "time", _Past)
    policy = mixed_app.extensions["dsar_policy"]
    req = open_request(policy, email="dr.martin@app.test", subject_kind=SubjectKind.PROFESSIONAL)
    _drain(mixed_app)
    run = runs(req)["billing"]
    assert run.status == RunStatus.FAILED
    assert "HTTP 401" in run.error and "signature" in run.error
    assert billing.refused and billing.received == []
    assert events(req, "collection_failed")[0].details["system"] == "billing"

    client, _ = signed_in_client(mixed_app, "dpo")
    page = client.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    assert "Facturation" in page or "Billing" in page
    assert "HTTP 401" in page and f"/collection/{run.id}/rerun" in page
    # Fixed: "run again" resumes and the system is collected.
    monkeypatch.setenv("DSAR_BILLING_SECRET", SECRET)
    monkeypatch.setattr(http_connector, "time", real_time)
    resp = client.post(f"/backoffice/requests/{req.reference}/collection/{run.id}/rerun")
    assert resp.status_code == 302
    _drain(mixed_app)
    run = runs(req)["billing"]
    assert run.status == RunStatus.DONE and run.rows["invoices"] == 2
    assert len(events(req, "collection_rerun")) == 1


def test_an_agent_cannot_run_again(mixed_app, monkeypatch):
    monkeypatch.setenv("DSAR_BILLING_SECRET", "whsec_wrong")
    policy = mixed_app.extensions["dsar_policy"]
    req = open_request(policy, email="dr.martin@app.test", subject_kind=SubjectKind.PROFESSIONAL)
    _drain(mixed_app)
    run = runs(req)["billing"]
    client, _ = signed_in_client(mixed_app, "agent")
    assert client.post(f"/backoffice/requests/{req.reference}/collection/{run.id}/rerun").status_code == 403
    assert runs(req)["billing"].status == RunStatus.FAILED
