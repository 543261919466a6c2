"""Collect and pack one subject with 200,000 rows and 1 GB of documents on PostgreSQL (issue 16).

Beside it, in the same script and on the same rows, the ceiling: a bare
``COPY (SELECT …) TO STDOUT`` of the subject's rows. The collection and the pack
run in a child process (the "worker"), whose peak RSS is read from
``getrusage`` (target ≤ 300 MB).

    .venv/bin/python bench/collect_200k.py [--rows 200000] [--doc-mb 1024] [--doc-size-mb 8] [--json out.json]

Needs PostgreSQL on 127.0.0.1:5432 (trust auth, like the tests). Creates two private
databases (the application's and dsar's) and drops them at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ADMIN = os.environ.get("DSAR_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

WORKER = r"""
import json, resource, sys, time
from datetime import date
from dsar import create_app, lifecycle
from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import SystemRun, Staff, DataRequest, RequestSubject, Requester
from dsar.models.enums import IdentityMethod, Status
config = json.loads(sys.argv[1])
app = create_app(config)
out = {}
with app.app_context():
    from dsar.systems import collection, packs
    collection.enqueue_after_commit = lambda *a, **k: None      # this process is the worker: run it here, timed
    packs.enqueue_after_commit = lambda *a, **k: None
    policy = app.extensions["dsar_policy"]
    req = DataRequest(type="access", subject_kind="professional", channel="web", status=Status.IDENTITY_REVIEW,
                      received_at=__import__("dsar.models", fromlist=["utcnow"]).utcnow(), language="fr",
                      activities=["application"])
    req.subject = RequestSubject(kind="professional", first_name="Bench", last_name="Subject", email="bench@app.test")
    req.requester = Requester(acting_for="self", first_name="Bench", last_name="Subject", email="bench@app.test")
    db.session.add(req); db.session.flush(); lifecycle.next_reference(req); db.session.commit()
    from dsar.models.enums import ActorType
    lifecycle.accept_identity(req, Actor(ActorType.API, "0", "bench", scopes=frozenset({"staff"})), policy, method=IdentityMethod.DOCUMENT, received_on=date.today())
    db.session.commit()
    run = db.session.query(SystemRun).filter_by(request_id=req.id).one()
    t0 = time.perf_counter()
    collection.collect_run(run.id)
    out["collect_s"] = time.perf_counter() - t0
    out["rss_after_collect_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    db.session.expire_all()
    run = db.session.get(SystemRun, run.id)
    out["rows"] = dict(run.rows)
    out["status"] = run.status
    t0 = time.perf_counter()
    packs.build_pack(req.id)
    out["pack_s"] = time.perf_counter() - t0
    db.session.expire_all()
    pack = packs.pack_of(db.session.get(DataRequest, req.id))
    out["pack_status"] = pack.status
    out["pack_bytes"] = pack.document.size if pack.document else None
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def _create_db(name: str) -> str:
    eng = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return sa.engine.make_url(ADMIN).set(database=name).render_as_string(hide_password=False)


def _drop_db(name: str) -> None:
    eng = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


def build_appdb(url: str, rows: int, doc_mb: int, doc_size_mb: int) -> dict:
    """One professional whose conversations hold ``rows`` messages and ``doc_mb`` MB of documents.

    The professional is also the conversations' "patient" side here, so that a professional's own rows include
    them (the map follows conversations from patients): the subject has a patient record as well.
    """
    from dsar import demo_appdb as app

    engine = sa.create_engine(url)
    app.create_schema(engine)
    base = datetime(2026, 1, 1)
    with engine.begin() as c:
        acc = c.execute(app.accounts.insert().values(external_id="bench", email="bench@app.test", kind="patient",
                                                     first_name="Bench", last_name="Subject", created_at=base,
                                                     restricted=False)).inserted_primary_key[0]
        other = c.execute(app.accounts.insert().values(external_id="other", email="other@app.test", kind="professional",
                                                       created_at=base, restricted=False)).inserted_primary_key[0]
        pro = c.execute(app.professionals.insert().values(account_id=other, created_at=base)).inserted_primary_key[0]
        pat = c.execute(app.patients.insert().values(account_id=acc, created_at=base)).inserted_primary_key[0]
        c.execute(sa.text("INSERT INTO conversations (patient_id, professional_id, subject, created_at) "
                          "SELECT :p, :pro, 'Suivi ' || g, now() FROM generate_series(1, 100) g"), {"p": pat, "pro": pro})
        c.execute(sa.text(
            "INSERT INTO messages (conversation_id, sender_account_id, body, sent_at) "
            "SELECT (SELECT min(id) FROM conversations) + (g % 100), CASE WHEN g % 2 = 0 THEN :a ELSE :o END, "
            "'Message ' || g || ' ' || md5(g::text) || md5((g * 7)::text), now() - (g || ' minutes')::interval "
            "FROM generate_series(1, :n) g"), {"a": acc, "o": other, "n": rows})
        c.execute(sa.text("INSERT INTO connection_logs (account_id, ip_address, user_agent, logged_at) "
                          "SELECT :a, '192.0.2.1', 'bench', now() FROM generate_series(1, 500) g"), {"a": acc})
    ndocs = max(1, doc_mb // doc_size_mb)
    conv_ids = None
    with engine.connect() as c:
        conv_ids = [r[0] for r in c.execute(sa.text("SELECT id FROM conversations ORDER BY id"))]
    for i in range(ndocs):
        with engine.begin() as c:
            c.execute(app.documents.insert().values(
                conversation_id=conv_ids[i % len(conv_ids)], filename=f"scan-{i}.bin", mime_type="application/octet-stream",
                content=os.urandom(doc_size_mb * 1024 * 1024), uploaded_at=base + timedelta(minutes=i)))
    engine.dispose()
    return {"patient_id": pat, "documents": ndocs}


def copy_ceiling(url: str, patient_id: int) -> dict:
    """The bare COPY of the same rows (messages of the subject's conversations, documents' bytes)."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    out = {}
    with psycopg.connect(dsn) as conn:
        with conn.cursor() as cur:
            t0 = time.perf_counter()
            n = nbytes = 0
            with cur.copy("COPY (SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                          "WHERE c.patient_id = %s) TO STDOUT", (patient_id,)) as copy:
                for chunk in copy:
                    nbytes += len(chunk)
            out["messages_copy_s"] = time.perf_counter() - t0
            cur.execute("SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                        "WHERE c.patient_id = %s", (patient_id,))
            n = cur.fetchone()[0]
            out["messages_rows"] = n
            out["messages_copy_rows_per_s"] = n / out["messages_copy_s"]
            t0 = time.perf_counter()
            nbytes = 0
            with cur.copy("COPY (SELECT d.* FROM documents d JOIN conversations c ON c.id = d.conversation_id "
                          "WHERE c.patient_id = %s) TO STDOUT", (patient_id,)) as copy:
                for chunk in copy:
                    nbytes += len(chunk)
            out["documents_copy_s"] = time.perf_counter() - t0
            out["documents_copy_mb"] = nbytes / 1024 / 1024
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--doc-mb", type=int, default=1024)
    ap.add_argument("--doc-size-mb", type=int, default=8)
    ap.add_argument("--json")
    args = ap.parse_args()
    tag = secrets.token_hex(3)
    app_name, dsar_name = f"bench_app_{tag}", f"bench_dsar_{tag}"
    app_url, dsar_url = _create_db(app_name), _create_db(dsar_name)
    tmp = Path(tempfile.mkdtemp(prefix="bench-collect-"))
    result = {"args": vars(args), "started": datetime.utcnow().isoformat(timespec="seconds"),
              "load_before": os.getloadavg()[0]}
    try:
        t0 = time.perf_counter()
        info = build_appdb(app_url, args.rows, args.doc_mb, args.doc_size_mb)
        result["build_s"] = time.perf_counter() - t0
        print(f"application database built in {result['build_s']:.1f} s ({info['documents']} documents)", flush=True)
        from flask_migrate import upgrade

        from dsar import create_app

        config = {"DSAR_ENV": "test", "SQLALCHEMY_DATABASE_URI": dsar_url, "REDIS_URL": None,
                  "INSTANCE_PATH": str(tmp / "instance"), "DSAR_FILES_DIR": str(tmp / "files"),
                  "DSAR_SYSTEMS": str(ROOT / "workflows" / "idomed.systems.yaml"), "DSAR_SYSTEMS_CHECK_AT_STARTUP": True,
                  "MAIL_BACKEND": "file", "DSAR_FILE_KEYS": [__import__("dsar.files", fromlist=["x"]).generate_key()]}
        env = dict(os.environ, DSAR_APP_DB_READ_URL=app_url, DSAR_APP_DB_WRITE_URL=app_url)
        os.environ.update(DSAR_APP_DB_READ_URL=app_url)
        mig = create_app(dict(config))
        with mig.app_context():
            upgrade()
        result["ceiling"] = copy_ceiling(app_url, info["patient_id"])
        print(f"COPY ceiling: {result['ceiling']}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", WORKER, json.dumps(config)], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        result["worker_wall_s"] = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr[-4000:])
            raise SystemExit("the worker failed")
        worker = json.loads(proc.stdout.strip().splitlines()[-1])
        result["worker"] = worker
        print("worker:", worker, flush=True)
        total_rows = sum(worker["rows"].values())
        result["collect_rows_per_s"] = total_rows / worker["collect_s"]
        result["messages_rows_per_s_vs_copy"] = (worker["rows"]["messages"] / worker["collect_s"]) / \
            result["ceiling"]["messages_copy_rows_per_s"]
        result["load_after"] = os.getloadavg()[0]
        print(json.dumps(result, indent=2, default=str))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    finally:
        _drop_db(app_name)
        _drop_db(dsar_name)
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
