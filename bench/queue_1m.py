"""Benchmark: the back-office queue over 1,000,000 requests in PostgreSQL.

Creates a database of its own, migrates it, loads N requests (with their subjects
and requesters) server-side with generate_series, then measures, for each
scenario, the server time of the queue page through the real Flask view (signed
in, HTML rendered, counters included), the CPU time of this process for it (the
page's Python, which other processes' load inflates less than the wall time)
and, beside it, the bare SQL time of the page's query (EXPLAIN ANALYZE execution
time). Prints p50/p95 and drops the database unless --keep.

    .venv/bin/python bench/queue_1m.py                      # 1,000,000 requests
    .venv/bin/python bench/queue_1m.py --rows 100000 --runs 20
    .venv/bin/python bench/queue_1m.py --code /work/wt/base   # measure another checkout (a baseline)
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent

PASSWORD = "bench password 2026"

LOAD_SQL = """
INSERT INTO staff (id, email, name, role, password_hash, failed_logins, active, language, session_epoch,
                   must_change_password, created_at)
SELECT g, 'agent' || g || '@bench.test', 'Agent ' || g, 'agent', :hash, 0, true, 'fr', 0, false, now()
FROM generate_series(1, 20) g;

INSERT INTO requests (id, reference, type, subject_kind, activities, channel, status, language, received_at,
                      clock_started_on, due_date, one_month_due_date, handler, assignee_id, paused_days,
                      medical_record, medical_info_older_than_5_years, created_at, updated_at, version)
SELECT g,
       'DSAR-' || (2022 + (g % 4)) || '-' || lpad(g::text, 7, '0'),
       (ARRAY['access','rectification','erasure','portability','restriction','objection','consent_withdrawal',
              'post_mortem_directive'])[1 + (g % 8)],
       (ARRAY['patient','professional','prospect'])[1 + (g % 3)],
       '["application"]'::json,
       (ARRAY['web','account','email','post','phone','in_person'])[1 + (g % 6)],
       s.status, 'fr', s.received, s.started, s.due, s.due,
       CASE WHEN g % 5 = 0 THEN 'professional' ELSE 'staff' END,
       CASE WHEN g % 3 = 0 THEN 1 + (g % 20) END,
       0, false, false, s.received, s.received, 1
FROM generate_series(1, :rows) g
CROSS JOIN LATERAL (
  SELECT st AS status,
         ts AS received,
         CASE WHEN st IN ('awaiting_identity', 'identity_review', 'unconfirmed') THEN NULL ELSE ts::date END AS started,
         CASE WHEN st IN ('awaiting_identity', 'identity_review', 'unconfirmed') THEN NULL
              ELSE (ts + interval '1 month')::date END AS due
  FROM (SELECT
          -- 90 % closed; the worklist holds the rest, spread around today.
          CASE WHEN g % 100 < 90 THEN 'closed'
               WHEN g % 100 < 92 THEN 'answered'
               WHEN g % 100 < 96 THEN 'in_progress'
               WHEN g % 100 < 98 THEN 'open'
               WHEN g % 100 < 99 THEN 'awaiting_requester'
               WHEN g % 200 = 199 THEN 'identity_review'
               ELSE 'awaiting_identity' END AS st,
          CASE WHEN g % 100 < 90 THEN now() - interval '4 years' * ((g::bigint * 7919) % 1000000) / 1000000.0
               ELSE now() - interval '60 days' * ((g::bigint * 104729) % 1000) / 1000.0 END AS ts
       ) x
) s;

INSERT INTO request_subjects (id, request_id, kind, first_name, last_name, email, deceased)
SELECT g, g, (ARRAY['patient','professional','prospect'])[1 + (g % 3)], 'Prénom' || (g % 997),
       'Nom' || lpad(((g * 2654435761) % 50000)::text, 5, '0'), 'personne' || g || '@bench.test', false
FROM generate_series(1, :rows) g;

INSERT INTO requesters (id, request_id, acting_for, first_name, last_name, email)
SELECT g, g, 'self', 'Prénom' || (g % 997), 'Nom' || lpad(((g * 2654435761) % 50000)::text, 5, '0'),
       'personne' || g || '@bench.test'
FROM generate_series(1, :rows) g;

SELECT setval(pg_get_serial_sequence('requests', 'id'), :rows);
SELECT setval(pg_get_serial_sequence('request_subjects', 'id'), :rows);
SELECT setval(pg_get_serial_sequence('requesters', 'id'), :rows);
SELECT setval(pg_get_serial_sequence('staff', 'id'), 20);
"""


def pct(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--admin-url", default=os.environ.get("DSAR_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument("--code", type=Path, default=ROOT,
                    help="the checkout whose dsar (and migrations) is measured, e.g. main in a second worktree")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(args.code.resolve()))

    name = f"dsar_bench_{os.getpid()}"
    admin = sa.create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        return run(url, args)
    finally:
        if not args.keep:
            with admin.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"kept database {name}")
        admin.dispose()


def run(url: str, args) -> int:
    from flask_migrate import upgrade

    from dsar import create_app
    from dsar.extensions import db
    from dsar.security import hash_password

    instance = tempfile.mkdtemp(prefix="dsar-bench-")
    app = create_app({"DSAR_ENV": "test", "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None, "INSTANCE_PATH": instance,
                      "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "MAIL_BACKEND": "file",
                      "DSAR_MAIL_DIR": instance + "/mail", "SESSION_COOKIE_SECURE": False})
    with app.app_context():
        upgrade()
        t0 = time.perf_counter()
        with db.engine.begin() as conn:
            for statement in [s for s in LOAD_SQL.split(";\n") if s.strip()]:
                conn.execute(sa.text(statement), {"rows": args.rows, "hash": hash_password(PASSWORD)})
        load_s = time.perf_counter() - t0
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
        counts = db.session.execute(sa.text(
            "SELECT count(*), count(*) FILTER (WHERE status <> 'closed') FROM requests")).one()
        print(f"loaded {counts[0]:,} requests ({counts[1]:,} in the worklist) in {load_s:.1f} s")
        deep_cursor = deep_page_cursor(db, depth=int(counts[1] * 0.8))
        sample_name = db.session.scalar(sa.text(
            "SELECT last_name FROM request_subjects WHERE request_id = :i"), {"i": args.rows // 2})
        sample_email = f"personne{args.rows // 3}@bench.test"
        sample_first_name = db.session.scalar(sa.text(
            "SELECT first_name FROM request_subjects WHERE request_id = :i"), {"i": args.rows // 4})
        sample_tail = db.session.scalar(sa.text("SELECT reference FROM requests WHERE id = :i"),
                                        {"i": args.rows // 7})[-3:]   # the end of a reference: ~1 request in 1,000
        import dsar
        print(f"code measured: {Path(dsar.__file__).parent.parent}")

    client = app.test_client()
    r = client.post("/backoffice/login", data={"email": "agent1@bench.test", "password": PASSWORD})
    assert r.status_code == 302, r.status_code

    def search_url(text):
        r = client.post("/backoffice/search", data={"q": text})
        assert r.status_code == 302
        return r.headers["Location"]

    scenarios = [
        ("first page (worklist)", "/backoffice/", {}, None),
        ("deep page (80 % into the worklist)", f"/backoffice/?after={deep_cursor}", {}, deep_cursor),
        ("overdue filter", "/backoffice/?overdue=1", {"overdue": "1"}, None),
        ("status filter, closed requests", "/backoffice/?status=closed", {"status": "closed"}, None),
        ("search by family name", search_url(sample_name[:6].lower()), {}, None),
        ("search by email", search_url(sample_email), {}, None),
        ("search by first name (~1,000 requests)", search_url(sample_first_name.lower()), {}, None),
        ("search by the end of a reference (~1,000)", search_url(sample_tail), {}, None),
    ]
    search_terms = {4: sample_name[:6].lower(), 5: sample_email, 6: sample_first_name.lower(), 7: sample_tail}
    print(f"\n{'scenario':40} {'rows':>5} {'server p50':>11} {'server p95':>11} {'CPU p50':>9} {'SQL p50':>9} "
          f"{'SQL p95':>9}")
    results = []
    for i, (label, path, filter_args, cursor) in enumerate(scenarios):
        server, cpu = [], []
        for _ in range(args.runs):
            t, c = time.perf_counter(), time.process_time()
            r = client.get(path)
            server.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            assert r.status_code == 200, (label, r.status_code)
        with app.app_context():
            sql_times, rows = bare_sql(db, filter_args, cursor, search_terms.get(i), args.runs)
        line = (f"{label:40} {rows:>5} {pct(server, 50):>9.1f}ms {pct(server, 95):>9.1f}ms {pct(cpu, 50):>7.1f}ms "
                f"{pct(sql_times, 50):>7.2f}ms {pct(sql_times, 95):>7.2f}ms")
        print(line)
        results.append(line)
    with app.app_context():
        counter_times = []
        for _ in range(args.runs):
            plan = db.session.execute(sa.text("EXPLAIN (ANALYZE, FORMAT JSON) " + compiled(db, counters_query(db))
                                              )).scalar()
            counter_times.append(plan[0]["Execution Time"])
        print(f"{'counters (one query, SQL only)':40} {'':>5} {'':>11} {'':>11} {'':>9} "
              f"{pct(counter_times, 50):>7.2f}ms {pct(counter_times, 95):>7.2f}ms")
    return 0


def deep_page_cursor(db, depth: int) -> str:
    from dsar.models.request import WORKLIST_STATUSES
    from dsar.services.queue import encode_cursor

    statuses = ", ".join(f"'{s.value}'" for s in WORKLIST_STATUSES)
    row = db.session.execute(sa.text(
        f"SELECT due_date, id FROM requests WHERE status IN ({statuses}) AND due_date IS NOT NULL "
        f"ORDER BY due_date, id OFFSET :d LIMIT 1"), {"d": depth}).one()
    return encode_cursor(row.due_date, row.id)


def compiled(db, query) -> str:
    return str(query.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))


def page_query(db, filter_args, cursor, search):
    """The dated-rows query fetch_page runs first (the one that matters at depth)."""
    from dsar.deadlines import legal_day
    from dsar.models import DataRequest, utcnow
    from dsar.services import queue

    filters = queue.parse_filters(filter_args, search=search)
    where = queue.filter_clauses(filters, today=legal_day(utcnow())) + [DataRequest.due_date.is_not(None)]
    decoded = queue.decode_cursor(cursor)
    if decoded:
        where.append(sa.tuple_(DataRequest.due_date, DataRequest.id) > sa.tuple_(sa.literal(decoded[0]), sa.literal(decoded[1])))
    order = (DataRequest.due_date, DataRequest.id)
    if "order_by" in inspect.signature(queue._rows_query).parameters:   # limit before joining (issue 19)
        return queue._rows_query(where, order, queue.PAGE_SIZE + 1)
    return queue._rows_query(where, queue.PAGE_SIZE + 1).order_by(*order)   # main before it


def counters_query(db):
    from datetime import timedelta

    from dsar.deadlines import legal_day
    from dsar.models import DataRequest, utcnow
    from dsar.models.enums import ACTIVE_STATUSES
    from dsar.models.request import WORKLIST_STATUSES

    today = legal_day(utcnow())
    active = DataRequest.status.in_([s.value for s in ACTIVE_STATUSES])
    return sa.select(
        sa.func.count().filter(active),
        sa.func.count().filter(active, DataRequest.due_date >= today, DataRequest.due_date <= today + timedelta(days=7)),
        sa.func.count().filter(active, DataRequest.due_date < today),
        sa.func.count().filter(DataRequest.status.in_(["awaiting_identity", "identity_review"])),
        sa.func.count().filter(active, DataRequest.handler == "professional"),
    ).where(DataRequest.status.in_([s.value for s in WORKLIST_STATUSES]))


def bare_sql(db, filter_args, cursor, search, runs):
    sql = compiled(db, page_query(db, filter_args, cursor, search))
    times, rows = [], 0
    for _ in range(runs):
        plan = db.session.execute(sa.text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)).scalar()
        times.append(plan[0]["Execution Time"])
        rows = plan[0]["Plan"].get("Actual Rows", 0)
    return times, rows


if __name__ == "__main__":
    sys.exit(main())
