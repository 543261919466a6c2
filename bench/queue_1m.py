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

LOAD_SQL_TEMPLATE = """
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
SELECT g, g, (ARRAY['patient','professional','prospect'])[1 + (g % 3)], {first_name}, {last_name},
       'personne' || g || '@bench.test', false
FROM generate_series(1, :rows) g;

INSERT INTO requesters (id, request_id, acting_for, first_name, last_name, email)
SELECT g, g, 'self', {first_name}, {last_name}, 'personne' || g || '@bench.test'
FROM generate_series(1, :rows) g;

SELECT setval(pg_get_serial_sequence('requests', 'id'), :rows);
SELECT setval(pg_get_serial_sequence('request_subjects', 'id'), :rows);
SELECT setval(pg_get_serial_sequence('requesters', 'id'), :rows);
SELECT setval(pg_get_serial_sequence('staff', 'id'), 20);
"""


# --names numbered (the default, as in the earlier runs): 50,000 family names "Nom00000"…"Nom49999" and 997 first
# names "Prénom0"…, so that every name shares its first letters with all the others.
NUMBERED_NAMES = {
    "last_name": "'Nom' || lpad(((g * 2654435761) % 50000)::text, 5, '0')",
    "first_name": "'Prénom' || (g % 997)",
}

# --names french: names as a French register spreads them over their first letters, which is what a search by the
# first letters of a name reads. 200 common family names, most of them (3 in 4) lengthened by an ending so that
# there are about 5,000 distinct ones, and 80 common first names (issue 19: a one- or two-letter search).
FAMILY_STEMS = (
    "Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel Lefebvre Leroy Roux "
    "David Bertrand Morel Fournier Girard Bonnet Dupont Lambert Fontaine Rousseau Vincent Muller Lefevre Faure "
    "Andre Mercier Blanc Guerin Boyer Garnier Chevalier Francois Legrand Gauthier Garcia Perrin Robin Clement "
    "Morin Nicolas Henry Roussel Mathieu Gautier Masson Marchand Duval Denis Dumont Marie Lemaire Noel Meyer "
    "Dufour Meunier Brun Blanchard Giraud Joly Riviere Lucas Brunet Gaillard Barbier Arnaud Martinez Gerard "
    "Roche Renard Schmitt Roy Leroux Colin Vidal Caron Picard Roger Fabre Aubert Lemoine Renaud Dumas Lacroix "
    "Olivier Philippe Bourgeois Pierre Benoit Rey Leclerc Payet Rolland Leclercq Guillaume Lecomte Lopez Jean "
    "Dupuy Guillot Hubert Berger Carpentier Sanchez Dupuis Moulin Louis Deschamps Huet Vasseur Perez Boucher "
    "Fleury Royer Klein Jacquet Adam Paris Poirier Marty Aubry Guyot Carre Charles Renault Charpentier Menard "
    "Maillard Baron Bertin Bailly Herve Schneider Fernandez Collet Leger Bouvier Julien Prevost Millet Perrot "
    "Daniel Cousin Germain Breton Besson Langlois Remy Pelletier Leveque Perrier Leblanc Barre Lebrun Marchal "
    "Weber Mallet Hamon Boulanger Jacob Monnier Michaud Rodriguez Guichard Gillet Etienne Grondin Poulain "
    "Tessier Chevallier Collin Chauvin Bouchet Gay Lemaitre Benard Marechal Humbert Reynaud Antoine Hoarau "
    "Perret Barthelemy Cordier Pichon Lejeune Gilbert Lamy Delaunay Pasquier Carlier Laporte Texier Ollivier"
).split()
FAMILY_ENDINGS = "el eau et in on ot ier ard ais ault and ange as at aud ant elle ette ine oux ès é y ac ade".split()
FIRST_NAMES = (
    "Marie Jean Pierre Michel André Philippe Nathalie Isabelle Sylvie Catherine Françoise Christine Monique Martine "
    "Nicolas Julien Thomas Camille Léa Manon Chloé Emma Louise Jade Lina Hugo Lucas Louis Gabriel Arthur Jules "
    "Nathan Raphaël Léo Adam Sarah Inès Zoé Alice Anna Paul Antoine Alexandre Maxime Romain Quentin Clément "
    "Mathilde Pauline Laura Julie Céline Sandrine Valérie Sophie Aurélie Émilie Caroline Hélène Anne Claire "
    "Jacques Bernard Daniel Alain Patrick Christophe Stéphane David Laurent Éric Frédéric Olivier Sébastien "
    "Vincent François Guillaume Benoît Yves"
).split()


def _sql_array(words) -> str:
    return "(ARRAY[" + ",".join("'" + w.replace("'", "''") + "'" for w in words) + "])"


FRENCH_NAMES = {
    "last_name": (f"{_sql_array(FAMILY_STEMS)}[1 + ((g::bigint * 2654435761) % {len(FAMILY_STEMS)})] || "
                  f"CASE WHEN (g::bigint * 40503) % 4 = 0 THEN '' ELSE "
                  f"{_sql_array(FAMILY_ENDINGS)}[1 + ((g::bigint * 69069) % {len(FAMILY_ENDINGS)})] END"),
    "first_name": f"{_sql_array(FIRST_NAMES)}[1 + ((g::bigint * 1103515245) % {len(FIRST_NAMES)})]",
}


def load_sql(names: str) -> str:
    return LOAD_SQL_TEMPLATE.format(**(FRENCH_NAMES if names == "french" else NUMBERED_NAMES))


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
    ap.add_argument("--calls", type=int, default=0, metavar="N",
                    help="also count the Python function calls of a page (cProfile over N more fetches, each "
                         "scenario): unlike times, the same on a busy machine")
    ap.add_argument("--names", choices=("numbered", "french"), default="numbered",
                    help="numbered: Nom00000… (earlier runs); french: common French names, spread over their first "
                         "letters as in a real register (for the one- and two-letter searches)")
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
            for statement in [s for s in load_sql(args.names).split(";\n") if s.strip()]:
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
        # The first letters of the name most often typed: "m" and "ma" in a French register (Martin, Moreau, Marie…).
        letter, letter2 = ("m", "ma") if args.names == "french" else (sample_name[:1].lower(), sample_name[:2].lower())
        matching, matching2 = requests_named(db, letter), requests_named(db, letter2)
        print(f"names: {args.names}; requests a search finds: {letter!r} {matching:,}, {letter2!r} {matching2:,}")
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
        (f"search by one letter ({letter!r})", search_url(letter), {}, None),
        (f"search by two letters ({letter2!r})", search_url(letter2), {}, None),
    ]
    search_terms = {4: sample_name[:6].lower(), 5: sample_email, 6: sample_first_name.lower(), 7: sample_tail,
                    8: letter, 9: letter2}
    print(f"\n{'scenario':40} {'rows':>5} {'server p50':>11} {'server p95':>11} {'CPU p50':>9} {'SQL p50':>9} "
          f"{'SQL p95':>9}" + (f" {'calls':>10}" if args.calls else ""))
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
        if args.calls:
            line += f" {python_calls(client, path, args.calls):>10,.0f}"
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


def python_calls(client, path: str, n: int) -> float:
    """Python function calls per fetch of ``path``, over ``n`` fetches under cProfile."""
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        client.get(path)
    profiler.disable()
    return sum(entry.callcount for entry in profiler.getstats()) / n


def requests_named(db, prefix: str) -> int:
    """How many requests a search for ``prefix`` finds: a subject's or requester's family or first name starts so."""
    return db.session.scalar(sa.text(
        "SELECT count(DISTINCT request_id) FROM (SELECT request_id, last_name_lower AS n FROM request_subjects "
        "UNION ALL SELECT request_id, last_name_lower FROM requesters "
        "UNION ALL SELECT request_id, lower(first_name) FROM request_subjects "
        "UNION ALL SELECT request_id, lower(first_name) FROM requesters) x WHERE n LIKE :l"), {"l": prefix + "%"})


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
    # A page's own clauses: a broad name search walks the requests (issue 19); the count that decides it is not timed.
    page = {"page": True} if "page" in inspect.signature(queue.filter_clauses).parameters else {}
    where = queue.filter_clauses(filters, today=legal_day(utcnow()), **page) + [DataRequest.due_date.is_not(None)]
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
