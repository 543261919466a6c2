"""Traversal finds exactly the subject's rows, through joins, and none of another person's (issue 16).

Runs against the application database of tests/appdb.py: PostgreSQL (read-only
role) on the PostgreSQL pass, a SQLite file on the SQLite pass.
"""
from __future__ import annotations

import sqlalchemy as sa

from dsar.policy import load_policy
from dsar.systems.connectors import ConnectorError, connector_for
from dsar.systems.loading import load_systems
from tests.appdb import ROOT, SYSTEMS_FILE, appdb, row_checksums  # noqa: F401 - the fixture

SYSTEMS = load_systems(SYSTEMS_FILE, load_policy(ROOT / "workflows" / "idomed.yaml"))
APP = SYSTEMS.system("application")


def _traverse(identities):
    conn = connector_for(APP)
    engine = conn.engine()
    try:
        with engine.connect() as c:
            return conn.traverse(c, identities)
    finally:
        engine.dispose()


def test_a_patient_gets_their_messages_through_the_conversations_and_nobody_elses(appdb):
    keys = _traverse({"email": ["Alice@App.test"]})
    alice_acc = appdb.ids["accounts"]["pat-alice"]
    alice_pat = appdb.ids["patients"]["pat-alice"]
    convs = {r["id"] for r in appdb.rows("conversations", "patient_id = :p", p=alice_pat)}
    assert len(convs) == 2  # with Dr Martin and Dr Durand
    assert {k[0] for k in keys.keys["conversations"]} == convs
    expected_msgs = {r["id"] for r in appdb.rows("messages") if r["conversation_id"] in convs}
    assert {k[0] for k in keys.keys["messages"]} == expected_msgs
    # Both sides of the conversation are the patient's (the professional's replies too).
    senders = {r["sender_account_id"] for r in appdb.rows("messages") if r["id"] in expected_msgs}
    assert alice_acc in senders and len(senders) == 3
    assert {k[0] for k in keys.keys["accounts"]} == {alice_acc}
    assert keys.count("documents") == 2
    assert keys.count("connection_logs") == 3
    assert keys.count("professionals") == 0 and keys.count("invoices") == 0
    bruno_msgs = {r["id"] for r in appdb.rows("messages", "conversation_id IN (SELECT id FROM conversations "
                                                          "WHERE patient_id = :p)", p=appdb.ids["patients"]["pat-bruno"])}
    assert bruno_msgs and not bruno_msgs & {k[0] for k in keys.keys["messages"]}


def test_a_professional_gets_their_own_rows_not_their_patients_conversations(appdb):
    keys = _traverse({"account_id": ["pro-martin"]})
    pro = appdb.ids["professionals"]["pro-martin"]
    assert {k[0] for k in keys.keys["professionals"]} == {pro}
    assert {k[0] for k in keys.keys["invoices"]} == {r["id"] for r in appdb.rows("invoices", "professional_id = :p", p=pro)}
    assert keys.count("invoices") == 2
    assert {k[0] for k in keys.keys["care_links"]} == {
        r["id"] for r in appdb.rows("care_links", "professional_id = :p", p=pro)}
    assert keys.count("conversations") == 0 and keys.count("messages") == 0 and keys.count("documents") == 0
    assert keys.count("patients") == 0


def test_email_finds_the_marketing_contact_too(appdb):
    keys = _traverse({"email": ["dr.martin@app.test"]})
    assert keys.count("marketing_contacts") == 1 and keys.count("professionals") == 1


def test_an_unknown_subject_has_no_rows(appdb):
    keys = _traverse({"email": ["nobody@app.test"], "phone": ["+33000"]})
    assert all(not v for v in keys.keys.values())


def test_rows_stream_in_key_order_with_personal_columns_only(appdb):
    keys = _traverse({"email": ["alice@app.test"]})
    conn = connector_for(APP)
    engine = conn.engine()
    with engine.connect() as c:
        rows = list(conn.stream_rows(c, APP.table("accounts"), keys.keys["accounts"]))
        docs = list(conn.stream_rows(c, APP.table("documents"), keys.keys["documents"]))
    engine.dispose()
    assert [r["email"] for r in rows] == ["alice@app.test"]
    assert "password_hash" not in rows[0]  # personal: false columns are never read
    assert all(bytes(d["content"]).startswith(b"%PDF") for d in docs)


def test_the_read_role_cannot_write(appdb):
    if appdb.kind != "postgresql":
        assert appdb.read_url == appdb.write_url
        return
    engine = sa.create_engine(appdb.read_url)
    try:
        with engine.begin() as c:
            c.execute(sa.text("DELETE FROM messages"))
        raise AssertionError("the read-only role deleted rows")
    except sa.exc.ProgrammingError as exc:
        assert "permission denied" in str(exc)
    finally:
        engine.dispose()


def test_row_checksums_change_only_for_the_changed_row(appdb):
    before = row_checksums(appdb.write_url)
    engine = appdb.engine()
    with engine.begin() as c:
        c.execute(sa.text("UPDATE devices SET model = 'X' WHERE id = 1"))
    engine.dispose()
    after = row_checksums(appdb.write_url)
    changed = {(t, k) for t in before for k in before[t] if before[t][k] != after[t].get(k)}
    assert changed == {("devices", (1,))}


def test_a_missing_url_variable_fails_loudly(monkeypatch):
    monkeypatch.delenv("DSAR_APP_DB_READ_URL", raising=False)
    try:
        connector_for(APP).engine()
        raise AssertionError("no error")
    except ConnectorError as exc:
        assert "DSAR_APP_DB_READ_URL" in str(exc)
