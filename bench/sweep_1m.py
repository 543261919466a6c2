"""The reminder and escalation sweep over 1,000,000 open requests routed to professionals (target <= 5 s).

    .venv/bin/python bench/sweep_1m.py                 # 1,000,000 requests; 2,000 + 200 + 200 tasks due

A database of its own is filled with generate_series (requests in progress, their subject, requester,
'received' event and professional task; 2,000 professionals), then ``dsar.jobs.reminders.sweep_tasks(now)``
— the job ``dsar scheduler`` runs each morning (policy art. 8.2) — is timed four times at the same instant:

1. nothing due anywhere (every task reminded within the last 5 days, escalated already or not yet due);
2. the same again (what a second worker or a retry costs);
3. a day's work due: ``--reminders`` tasks due for a reminder, ``--unacknowledged`` not acknowledged after
   14 days, ``--near-deadline`` whose request is due within 7 days;
4. the same instant again: nothing is sent twice, and what it costs to find that out.

Jobs go to a Redis of its own (no worker: emails stay queued), as in production. The time of each rule's
statement is printed, so that a slow rule shows itself.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402


def load(conn, n: int, pros: int, now, today) -> None:
    import sqlalchemy as sa

    p = {"n": n, "pros": pros, "now": now, "today": today}

    def run(label: str, sql: str) -> None:
        t = time.perf_counter()
        conn.execute(sa.text(sql), p)
        print(f"   loaded {label} in {time.perf_counter() - t:.1f} s", flush=True)

    run("professionals", """
        INSERT INTO professionals (id, external_id, first_name, last_name, email, language, active, created_at, updated_at)
        SELECT g, 'pro-' || g, 'Alice', 'Pro' || g, 'pro' || g || '@example.test', 'fr', true, :now, :now
        FROM generate_series(1, :pros) g""")
    # Received 1 to 20 days ago, clock started that day, due one month later: 10 to 29 days ahead.
    run("requests", """
        INSERT INTO requests (id, reference, type, subject_kind, activities, channel, status, language, received_at,
            clock_started_on, due_date, one_month_due_date, medical_record, medical_info_older_than_5_years,
            paused_days, identity_method, identity_verified_at, identity_verified_by, email_confirmed_at,
            status_link_salt, handler, created_at, updated_at, version)
        SELECT g, 'DSAR-2026-' || lpad(g::text, 7, '0'), 'access', 'patient', '["application"]', 'account',
            'in_progress', 'fr', :now - ((g % 20) + 1) * interval '1 day',
            CAST(:today AS date) - ((g % 20) + 1), CAST(:today AS date) - ((g % 20) + 1) + 30,
            CAST(:today AS date) - ((g % 20) + 1) + 30, false, false, 0, 'account',
            :now - ((g % 20) + 1) * interval '1 day', 'account', :now - ((g % 20) + 1) * interval '1 day',
            md5(g::text), 'professional', :now - ((g % 20) + 1) * interval '1 day', :now, 1
        FROM generate_series(1, :n) g""")
    run("subjects", """
        INSERT INTO request_subjects (request_id, kind, first_name, last_name, email, deceased)
        SELECT g, 'patient', 'Jeanne', 'Patient' || g, 'patient' || g || '@example.test', false
        FROM generate_series(1, :n) g""")
    run("requesters", """
        INSERT INTO requesters (request_id, acting_for, first_name, last_name, email)
        SELECT g, 'self', 'Jeanne', 'Patient' || g, 'patient' || g || '@example.test'
        FROM generate_series(1, :n) g""")
    run("events", """
        INSERT INTO events (stream, seq, request_id, occurred_at, actor_type, action, details, prev_hash, hash)
        SELECT 'request:' || g, 1, g, :now - ((g % 20) + 1) * interval '1 day', 'system', 'received', '{}',
            repeat('0', 64), md5(g::text) || md5((g + 1000000000)::text)
        FROM generate_series(1, :n) g""")
    # 30 % not acknowledged yet. Nothing due: reminded within the last 5 days (or created since), an old
    # unacknowledged task already escalated, every due date more than 7 days ahead. The instants are spread over an
    # hour (as real ones are over the day), so that PostgreSQL's statistics on them have a histogram.
    run("tasks", """
        INSERT INTO professional_tasks (request_id, professional_id, status, token_hash, expires_at, created_at,
            acknowledged_at, last_reminder_at, reminder_count, link_secret, escalated_at, escalation_reason)
        SELECT g, (g % :pros) + 1, CASE WHEN g % 10 < 3 THEN 'open' ELSE 'acknowledged' END,
            md5(g::text) || md5((g + 2000000000)::text), :now + interval '25 days', c.created,
            CASE WHEN g % 10 < 3 THEN NULL ELSE c.created + interval '1 day' END,
            CASE WHEN c.created <= :now - interval '5 days' THEN :now - ((g % 4) + 1) * interval '1 day'
                                                                   - (g % 3600) * interval '1 second' END,
            CASE WHEN c.created <= :now - interval '5 days' THEN 1 ELSE 0 END, 'not-a-secret',
            CASE WHEN g % 10 < 3 AND c.created <= :now - interval '14 days' THEN :now - interval '1 day' END,
            CASE WHEN g % 10 < 3 AND c.created <= :now - interval '14 days' THEN 'unacknowledged' END
        FROM generate_series(1, :n) g, LATERAL (SELECT :now - ((g % 20) + 1) * interval '1 day' + interval '1 hour'
                                                       - (g % 3600) * interval '1 second' AS created) c""")
    for table in ("professionals", "requests", "request_subjects", "requesters", "events", "professional_tasks"):
        conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))


def create_proposed_indexes(conn) -> None:
    """The indexes proposed for rules 2 and 3 (issue 19), on the very expressions the sweep compares."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    try:   # migration 0014 builds them from these since issue 19; the `sweep` branch had them in jobs.reminders
        from dsar.models.people import task_reminder_counted_from as reminder_counted_from
        from dsar.models.people import task_unacknowledged_since as unacknowledged_since
    except ImportError:
        from dsar.jobs.reminders import reminder_counted_from, unacknowledged_since

    for name, expression in (("ix_professional_tasks_reminder_counted_from", reminder_counted_from()),
                             ("ix_professional_tasks_unacknowledged_since", unacknowledged_since())):
        sql = expression.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
        t = time.perf_counter()
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON professional_tasks (({sql}))"))
        print(f"   proposed index {name} on ({sql}) built in {time.perf_counter() - t:.1f} s", flush=True)


def make_due(conn, reminders: int, unacknowledged: int, near: int, now, today) -> list[int]:
    """Make a day's work due, on the first task ids; returns the ids whose link emails will need a real secret."""
    import sqlalchemy as sa

    p = {"now": now, "today": today, "r": reminders, "u": reminders + unacknowledged, "d": reminders + unacknowledged + near}
    conn.execute(sa.text("""
        UPDATE professional_tasks SET status = 'acknowledged', created_at = :now - interval '12 days',
            acknowledged_at = :now - interval '11 days', last_reminder_at = :now - interval '6 days',
            escalated_at = NULL, deadline_escalated_at = NULL
        WHERE id <= :r"""), p)
    conn.execute(sa.text("""
        UPDATE professional_tasks SET status = 'open', created_at = :now - interval '15 days', acknowledged_at = NULL,
            last_reminder_at = :now - interval '1 day', escalated_at = NULL, escalation_reason = NULL,
            deadline_escalated_at = NULL
        WHERE id > :r AND id <= :u"""), p)
    conn.execute(sa.text("""
        UPDATE professional_tasks SET status = 'acknowledged', acknowledged_at = created_at + interval '1 day',
            last_reminder_at = :now - interval '1 day', escalated_at = NULL, deadline_escalated_at = NULL
        WHERE id > :u AND id <= :d"""), p)
    conn.execute(sa.text("""
        UPDATE requests SET due_date = CAST(:today AS date) + 3
        WHERE id IN (SELECT request_id FROM professional_tasks WHERE id > :u AND id <= :d)"""), p)
    return list(range(1, p["d"] + 1))


def give_real_links(app, task_ids: list[int]) -> None:
    """The tasks that will be emailed carry a real encrypted link secret (a reminder repeats the link)."""
    import sqlalchemy as sa

    from dsar.extensions import db
    from dsar.security import encrypt_secret
    from dsar.tokens import new_nonce

    with app.app_context():
        rows = []
        for task_id in task_ids:
            nonce, digest = new_nonce()
            rows.append({"i": task_id, "h": digest, "s": encrypt_secret(nonce)})
        db.session.execute(sa.text("UPDATE professional_tasks SET token_hash = :h, link_secret = :s WHERE id = :i"), rows)
        db.session.commit()


class StatementTimer:
    """Time of each statement of the sweep, grouped by its first words."""

    def __init__(self, engine):
        import sqlalchemy as sa

        self.times = defaultdict(float)
        self.counts = defaultdict(int)
        self._start = {}
        sa.event.listen(engine, "before_cursor_execute", self.before)
        sa.event.listen(engine, "after_cursor_execute", self.after)

    def before(self, conn, cursor, statement, params, context, executemany):
        self._start[id(cursor)] = time.perf_counter()

    def after(self, conn, cursor, statement, params, context, executemany):
        words = " ".join(statement.split()[:3])
        if words.startswith("UPDATE professional_tasks"):
            where = statement.split("WHERE", 1)[1]
            key = ("rule: reminders" if "last_reminder_at" in where else
                   "rule: not acknowledged" if "acknowledged_at IS NULL" in where else
                   "rule: near deadline" if "answered_at IS NULL" in where else words)
        elif "contract_ended_on <=" in statement:
            key = "rule: professionals gone"
        elif words.startswith("SELECT professional_tasks.") and "JOIN" in statement:
            key = "load the tasks that fired"
        elif words.startswith("SELECT professional_tasks.id") and "CASE WHEN" in statement:
            key = "rules 2-3: candidates (one read of the tasks)"
        else:
            key = words if not words.startswith("INSERT") else "INSERT " + statement.split()[2]
        self.times[key] += time.perf_counter() - self._start.pop(id(cursor), time.perf_counter())
        self.counts[key] += 1

    def reset(self):
        self.times.clear()
        self.counts.clear()

    def report(self) -> dict:
        rows = sorted(self.times.items(), key=lambda kv: -kv[1])
        for key, seconds in rows[:8]:
            print(f"      {seconds * 1000:9.1f} ms  {self.counts[key]:6d} x  {key}")
        return {k: round(v, 4) for k, v in rows}


def print_profile_split(path: Path) -> None:
    """Under cProfile: how much of the sweep was spent inside ``notifications.queue_email`` (rendering and sealing
    each email) and how much in the rest (the rules, loading the tasks, the audit events, the commit, the jobs)."""
    import pstats

    stats = pstats.Stats(str(path)).stats

    def cumulative(module: str, function: str) -> float:
        return max((v[3] for (file, _, name), v in stats.items() if file.endswith(module) and name == function),
                   default=0.0)

    total = cumulative("dsar/jobs/reminders.py", "sweep_tasks")
    inside = {name: cumulative(module, name) for module, name in (
        ("dsar/services/notifications.py", "queue_email"), ("dsar/jobs/reminders.py", "_candidates"),
        ("dsar/jobs/reminders.py", "_mark"), ("dsar/jobs/reminders.py", "_load"), ("dsar/audit.py", "record"),
        ("dsar/audit.py", "_insert"), ("dsar/jobs/__init__.py", "submit_many"))}
    print(f"      under cProfile: sweep {total:.2f} s, of which inside queue_email {inside['queue_email']:.2f} s, "
          f"the rest {total - inside['queue_email']:.2f} s; "
          + ", ".join(f"{k} {v:.2f} s" for k, v in inside.items() if k != "queue_email")
          + " (the rules' statements include the autoflush of the outbox rows)", flush=True)


def verify_written_chains() -> tuple[dict, list[str]]:
    """Every event the sweep wrote (seq > 1: the loader's 'received' events carry placeholder hashes) follows the
    one before it in its stream (seq, prev_hash) and hashes to what it holds (audit.compute_hash)."""
    import sqlalchemy as sa

    from dsar import audit
    from dsar.extensions import db
    from dsar.models import Event

    touched = sa.select(Event.stream).where(Event.seq > 1).distinct().scalar_subquery()
    query = (sa.select(Event).where(Event.stream.in_(touched)).order_by(Event.stream, Event.seq)
             .execution_options(yield_per=5000))
    broken: list[str] = []
    streams = events = 0
    previous = None
    for ev in db.session.execute(query).scalars():
        if previous is None or ev.stream != previous.stream:
            streams += 1
            if ev.seq != 1:
                broken.append(f"{ev.stream}: starts at {ev.seq}")
        else:
            events += 1
            if ev.seq != previous.seq + 1 or ev.prev_hash != previous.hash or audit.compute_hash(ev) != ev.hash:
                broken.append(f"{ev.stream} #{ev.seq}")
        previous = ev
    return {"streams": streams, "events": events}, broken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--professionals", type=int, default=2_000)
    parser.add_argument("--reminders", type=int, default=2_000, help="tasks due for a reminder")
    parser.add_argument("--unacknowledged", type=int, default=200, help="tasks not acknowledged after 14 days")
    parser.add_argument("--near-deadline", type=int, default=200, help="tasks whose request is due within 7 days")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for a load average <= 1.5")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the sweep with a day's work here")
    parser.add_argument("--proposed-indexes", action="store_true",
                        help="add the two expression indexes of rules 2 and 3 (migration 0014) to code older than it")
    parser.add_argument("--code", type=Path, help="time this checkout's dsar (e.g. main's) with this script")
    args = parser.parse_args()
    if args.code:
        # PYTHONPATH is not enough: _harness puts this checkout first on sys.path, and it would win.
        sys.path[:] = [str(args.code.resolve())] + [p for p in sys.path if p != str(h.ROOT)]

    import sqlalchemy as sa

    import dsar
    from dsar import create_app
    from dsar.deadlines import legal_day
    from dsar.extensions import db
    from dsar.jobs.reminders import sweep_tasks
    from dsar.models import OutboxMessage, utcnow

    info = h.print_header("reminder and escalation sweep over open requests")
    info["code"] = str(Path(dsar.__file__).resolve().parent.parent)
    print(f"   code timed: {info['code']}", flush=True)
    info["load_at_start"] = h.wait_until_quiet(skip=args.no_wait)
    print(f"   load average at start: {info['load_at_start']:.2f}", flush=True)
    now = utcnow().replace(microsecond=0)
    today = legal_day(now)
    runs = []
    with h.temp_database("dsar_bench_sweep", keep=args.keep_db) as url, h.PrivateRedis() as redis:
        h.migrate(url)
        engine = sa.create_engine(url)
        t = time.perf_counter()
        with engine.begin() as conn:
            load(conn, args.requests, args.professionals, now, today)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if args.proposed_indexes:
                create_proposed_indexes(conn)
            conn.execute(sa.text("VACUUM ANALYZE"))
        print(f"   {args.requests:,} requests loaded and analysed in {time.perf_counter() - t:.0f} s", flush=True)
        app = create_app(h.app_config(url, REDIS_URL=redis.url))
        with app.app_context():
            timer = StatementTimer(db.engine)

        def sweep(label: str) -> dict:
            h.wait_until_quiet(skip=args.no_wait, poll=10)
            load_avg = h.load_average()
            timer.reset()
            with app.app_context():
                before = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
                db.session.remove()
            with app.app_context():   # the job uses the app it runs in (a worker's, in production)
                profiler = None
                if args.profile and label.startswith("3."):
                    import cProfile

                    profiler = cProfile.Profile()
                    profiler.enable()
                started = time.perf_counter()
                counts = sweep_tasks(now)
                elapsed = time.perf_counter() - started
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(str(args.profile))
                    print_profile_split(args.profile)
            with app.app_context():
                emails = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) - before
                db.session.remove()
            fired = sum(v for k, v in counts.items() if k != "links_renewed")
            print(f"   {label}: {elapsed:.2f} s (target <= 5 s: {'met' if elapsed <= 5 else 'MISSED'}); "
                  f"fired {counts}; emails written {emails}; load average {load_avg:.2f}", flush=True)
            run = {"label": label, "seconds": round(elapsed, 3), "counts": counts, "emails": emails,
                   "load": load_avg, "statements": timer.report()}
            runs.append(run)
            return run

        idle1 = sweep("1. nothing due")
        sweep("2. nothing due, again")
        with engine.begin() as conn:
            ids = make_due(conn, args.reminders, args.unacknowledged, args.near_deadline, now, today)
        give_real_links(app, ids)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE professional_tasks; ANALYZE requests"))
        batch = sweep("3. a day's work due")
        again = sweep("4. same instant again")
        assert sum(again["counts"].values()) == 0, "the second sweep at the same instant sent something again"
        with app.app_context():
            checked, broken = verify_written_chains()
            db.session.remove()
        print(f"   audit chains of the {checked['streams']:,} requests the sweep wrote to: {checked['events']:,} events "
              f"written by it, each chained to the one before and its hash recomputed: "
              f"{'intact' if not broken else f'{len(broken)} BROKEN: ' + '; '.join(broken[:5])}", flush=True)
        assert not broken, "an audit chain written by the sweep does not verify"
        fired = max(1, sum(v for k, v in batch["counts"].items() if k != "links_renewed"))
        per_task = (batch["seconds"] - idle1["seconds"]) / fired
        print(f"== result: scanning {args.requests:,} open requests with nothing due takes {idle1['seconds']:.2f} s; "
              f"each task that fires adds {per_task * 1000:.2f} ms (its email, its audit event, its job); "
              f"{fired} fired in {batch['seconds']:.2f} s; a second sweep at the same instant sends nothing "
              f"({again['seconds']:.2f} s). Load average now {h.load_average():.2f}")
        with app.app_context():
            db.engine.dispose()
        engine.dispose()
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "args": vars(args) | {"json": str(args.json)},
                                         "runs": runs, "per_fired_task_seconds": per_task}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
