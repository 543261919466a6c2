"""Erase one patient with 200,000 rows across 6 tables on PostgreSQL (issue 17), beside bare SQL DELETEs.

Two identical application databases are built. On the first, dsar computes the dry run (traversal through
the read role), it is approved, then executed (traversal again for the stale check, capture of the keys,
per-table transactions children first, progress and audit per table) — each phase timed. On the second, the
same rows are removed by hand-written SQL in one transaction: the ceiling. Both end states are compared.

    .venv/bin/python bench/erase_200k.py [--messages 150000] [--json out.json]

Rows of the subject: conversations 5,000, conversation_members 10,000, messages 150,000, documents 5,000
(1 KB each), devices 10,000, connection_logs 20,000 (kept: rolling retention) = 200,000.
Needs PostgreSQL on 127.0.0.1:5432 (trust auth, like the tests); the databases are dropped at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _harness import app_config, load_average, machine, migrate, temp_database  # noqa: E402


def build(url: str, n_messages: int) -> dict:
    from dsar import demo_appdb as app

    engine = sa.create_engine(url)
    app.create_schema(engine)
    base = datetime(2026, 1, 1)
    with engine.begin() as c:
        acc = c.execute(app.accounts.insert().values(external_id="bench", email="bench@app.test", kind="patient",
                                                     first_name="Bench", last_name="Subject", created_at=base,
                                                     restricted=False)).inserted_primary_key[0]
        other = c.execute(app.accounts.insert().values(external_id="other", email="other@app.test",
                                                       kind="professional", created_at=base,
                                                       restricted=False)).inserted_primary_key[0]
        pro = c.execute(app.professionals.insert().values(account_id=other, created_at=base)).inserted_primary_key[0]
        pat = c.execute(app.patients.insert().values(account_id=acc, created_at=base)).inserted_primary_key[0]
        p = {"p": pat, "pro": pro, "a": acc, "o": other, "n": n_messages}
        c.execute(sa.text("INSERT INTO conversations (patient_id, professional_id, subject, created_at) "
                          "SELECT :p, :pro, 'Suivi ' || g, now() FROM generate_series(1, 5000) g"), p)
        c.execute(sa.text("INSERT INTO conversation_members (conversation_id, account_id, role, joined_at) "
                          "SELECT id, :a, 'patient', now() FROM conversations UNION ALL "
                          "SELECT id, :o, 'professional', now() FROM conversations"), p)
        c.execute(sa.text(
            "INSERT INTO messages (conversation_id, sender_account_id, body, sent_at) "
            "SELECT (SELECT min(id) FROM conversations) + (g % 5000), CASE WHEN g % 2 = 0 THEN :a ELSE :o END, "
            "'Message ' || g || ' ' || md5(g::text), now() - (g || ' minutes')::interval "
            "FROM generate_series(1, :n) g"), p)
        c.execute(sa.text(
            "INSERT INTO documents (conversation_id, filename, mime_type, content, uploaded_at) "
            "SELECT id, 'scan-' || id || '.bin', 'application/octet-stream', decode(repeat(md5(id::text), 32), 'hex'), "
            "now() FROM conversations"))
        c.execute(sa.text("INSERT INTO devices (account_id, platform, model, push_token, last_seen_at) "
                          "SELECT :a, 'ios', 'Phone ' || g, 'push-' || g, now() FROM generate_series(1, 10000) g"), p)
        c.execute(sa.text("INSERT INTO connection_logs (account_id, ip_address, user_agent, logged_at) "
                          "SELECT :a, '192.0.2.1', 'bench', now() FROM generate_series(1, 20000) g"), p)
        # Someone else's rows, which must not move.
        c.execute(sa.text("INSERT INTO devices (account_id, platform, model, push_token, last_seen_at) "
                          "SELECT :o, 'android', 'Other ' || g, 'other-' || g, now() FROM generate_series(1, 1000) g"), p)
    engine.dispose()
    return {"patient_id": pat, "account_id": acc}


def bare_sql(url: str, ids: dict) -> dict:
    """The ceiling: the same rows deleted (children first) and the patient archived, by hand, one transaction."""
    engine = sa.create_engine(url)
    steps = [
        ("messages", "DELETE FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE patient_id = :p)"),
        ("documents", "DELETE FROM documents WHERE conversation_id IN (SELECT id FROM conversations WHERE patient_id = :p)"),
        ("conversation_members", "DELETE FROM conversation_members WHERE account_id = :a OR conversation_id IN "
                                 "(SELECT id FROM conversations WHERE patient_id = :p)"),
        ("devices", "DELETE FROM devices WHERE account_id = :a"),
        ("conversations", "DELETE FROM conversations WHERE patient_id = :p"),
        ("patients", "UPDATE patients SET archived_at = now() WHERE id = :p"),
    ]
    out = {}
    t0 = time.perf_counter()
    with engine.begin() as c:
        for name, sql in steps:
            t = time.perf_counter()
            out[name] = c.execute(sa.text(sql), {"p": ids["patient_id"], "a": ids["account_id"]}).rowcount
            out[f"{name}_s"] = round(time.perf_counter() - t, 3)
    out["total_s"] = time.perf_counter() - t0
    engine.dispose()
    return out


def counts(url: str) -> dict:
    engine = sa.create_engine(url)
    with engine.connect() as c:
        out = {t: c.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in (
            "conversations", "conversation_members", "messages", "documents", "devices", "connection_logs")}
        out["archived"] = c.execute(sa.text("SELECT count(*) FROM patients WHERE archived_at IS NOT NULL")).scalar()
    engine.dispose()
    return out


def dsar_erasure(dsar_url: str, app_url: str) -> dict:
    from dsar import create_app, lifecycle
    from dsar.actors import Actor
    from dsar.extensions import db
    from dsar.models import DataRequest, Requester, RequestSubject, SystemRun, utcnow
    from dsar.models.enums import ActorType, Status
    from dsar.systems import execution

    os.environ.update(DSAR_APP_DB_READ_URL=app_url, DSAR_APP_DB_WRITE_URL=app_url)
    app = create_app(app_config(dsar_url, DSAR_SYSTEMS=str(ROOT / "workflows" / "idomed.systems.yaml")))
    out = {}
    with app.app_context():
        actor = Actor(ActorType.API, "0", "bench", scopes=frozenset({"staff"}))
        req = DataRequest(type="erasure", subject_kind="patient", channel="web", status=Status.IN_PROGRESS,
                          received_at=utcnow(), language="fr", activities=["application"],
                          external_account_id="bench")
        req.subject = RequestSubject(kind="patient", first_name="Bench", last_name="Subject", email="bench@app.test")
        req.requester = Requester(acting_for="self", first_name="Bench", last_name="Subject", email="bench@app.test")
        db.session.add(req)
        db.session.flush()
        lifecycle.next_reference(req)
        db.session.commit()
        t0 = time.perf_counter()
        dr = execution.compute_dry_run(req, actor)
        db.session.commit()
        out["dry_run_s"] = time.perf_counter() - t0
        out["dry_run"] = {f"{l.table}:{l.action}": l.rows for l in dr.lines}
        execution.approve(dr, actor)
        execution.approve_sealed(dr, actor)
        db.session.commit()
        t0 = time.perf_counter()
        execution.execute(dr, actor)                 # stale check + capture; the job runs in-process at the commit
        t1 = time.perf_counter()
        db.session.commit()
        out["stale_check_and_capture_s"] = t1 - t0
        out["execute_run_s"] = time.perf_counter() - t1
        out["total_from_approval_s"] = time.perf_counter() - t0
        db.session.expire_all()
        run = db.session.scalar(sa.select(SystemRun).where(SystemRun.request_id == req.id))
        out["run"] = {"status": run.status, "attempts": run.attempts, "rows": run.rows}
        db.engine.dispose()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=150_000)
    ap.add_argument("--json")
    args = ap.parse_args()
    result = {"args": vars(args), "machine": machine(), "started": datetime.utcnow().isoformat(timespec="seconds"),
              "load_before": load_average()}
    with temp_database("bench_erase_app") as app_a, temp_database("bench_erase_bare") as app_b, \
            temp_database("bench_erase_dsar") as dsar_url:
        t0 = time.perf_counter()
        ids = build(app_a, args.messages)
        build(app_b, args.messages)
        result["build_s"] = time.perf_counter() - t0
        result["before"] = counts(app_a)
        migrate(dsar_url)
        result["dsar"] = dsar_erasure(dsar_url, app_a)
        result["bare_sql"] = bare_sql(app_b, ids)
        result["after_dsar"], result["after_bare"] = counts(app_a), counts(app_b)
        result["same_end_state"] = result["after_dsar"] == result["after_bare"]
        result["ratio_execute_vs_bare"] = result["dsar"]["execute_run_s"] / result["bare_sql"]["total_s"]
        result["ratio_all_vs_bare"] = (result["dsar"]["dry_run_s"] + result["dsar"]["total_from_approval_s"]) / \
            result["bare_sql"]["total_s"]
    result["load_after"] = load_average()
    print(json.dumps(result, indent=2, default=str))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
