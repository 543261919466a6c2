"""Intake throughput: API submissions per second through gunicorn on PostgreSQL, against a bare Flask endpoint
doing one INSERT, on the same machine in the same run. The ratio is the figure (target >= 0.5).

    .venv/bin/python bench/intake_throughput.py            # 2 rounds of 30 s each, 4 workers, 8 connections

Each round serves dsar (production settings: PostgreSQL, Redis for jobs and rate-limit counters, SMTP) then
the baseline (bench/baseline_app.py) with the same gunicorn workers, and loads each with wrk from
127.0.0.1 for the same time after a warm-up. The submissions are those of the IDOMED application: a
patient's access request from a signed-in account (policy art. 8.1) — validated, complete at receipt, clock
started, audit event, "received" email in the outbox, job queued, routing tried, idempotency row. The
database is created for the run and dropped at the end. CPU time of the web workers and of the PostgreSQL
backends is read from /proc over the measured window, to say where the time goes.

Before the rounds, an in-process profile (issue 19) submits ``--profile`` times each of three kinds through the
Flask test client with the same production settings: the API's unmatched patient (the wrk load), the API's
matched patient (a care link designates one professional: the request is routed, a task and its email), and
the public form (GET the page for its CSRF token and one-time key, then POST). For each: web CPU per
submission (process time of the submitting request alone) and SQL statements per submission (a SQLAlchemy
``before_cursor_execute`` listener). ``--kinds`` adds the matched patient to the wrk rounds too.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402

# What bench/baseline_app.py writes to.
BASELINE_TABLE = ("CREATE TABLE baseline_submissions (id bigserial PRIMARY KEY, body jsonb NOT NULL, "
                  "created_at timestamptz NOT NULL DEFAULT now())")

LUA = r"""
-- One account submission per request, each with its own client_reference.
local counter = 0
local thread_no = 0
function setup(thread)
  thread_no = thread_no + 1
  thread:set("tid", thread_no)
end
function init(args)
  key = args[1]
  run = args[2]
  path = args[3]
end
request = function()
  counter = counter + 1
  local ref = string.format("%s-%d-%d", run, tid, counter)
  local email = string.format("p%d.%d.%s@example.test", tid, counter, run)
  if string.find(run, "matched") then email = "matched.patient@example.test" end  -- a care link designates them
  local body = string.format('{"type":"access","channel":"account","language":"fr",' ..
    '"identity":{"method":"account","verified":true},"client_reference":"%s","external_account_id":"acct-%d-%d",' ..
    '"subject":{"kind":"patient","first_name":"Jeanne","last_name":"Banc","email":"%s",' ..
    '"birth_date":"1980-04-02"}}', ref, tid, counter, email)
  local headers = {["Content-Type"] = "application/json"}
  if key ~= "-" then headers["Authorization"] = "Bearer " .. key end
  return wrk.format("POST", path, headers, body)
end
"""


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])   # utime + stime, in clock ticks
    return total / 100.0


def backend_pids(database_url: str) -> list[int]:
    import sqlalchemy as sa

    name = sa.engine.make_url(database_url).database
    eng = sa.create_engine(h.PG_ADMIN_URL)
    with eng.connect() as c:
        pids = list(c.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": name}).scalars())
    eng.dispose()
    return pids


def count_rows(database_url: str, table: str) -> int:
    import sqlalchemy as sa

    eng = sa.create_engine(database_url)
    with eng.connect() as c:
        n = c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
    eng.dispose()
    return n


def measure(name: str, proc, port: int, path: str, key: str, database_url: str, table: str, args, script: Path) -> dict:
    base = f"http://127.0.0.1:{port}"
    h.wait_http(f"{base}/health", timeout=60, expect=(200, 503))
    h.run_wrk(base + path, seconds=args.warmup, connections=args.connections, threads=args.threads, script=script,
              args=[key, f"w{name}{time.time_ns()}", path])
    workers = h.children(proc.pid)
    backends = backend_pids(database_url)
    rows_before = count_rows(database_url, table)
    cpu_app, cpu_db = cpu_seconds(workers), cpu_seconds(backends)
    result = h.run_wrk(base + path, seconds=args.seconds, connections=args.connections, threads=args.threads,
                       script=script, args=[key, f"m{name}{time.time_ns()}", path])
    cpu_app, cpu_db = cpu_seconds(workers) - cpu_app, cpu_seconds(backends) - cpu_db
    time.sleep(1)
    stored = count_rows(database_url, table) - rows_before
    ok = result["requests"] - result["non_2xx"]
    result.update(name=name, stored=stored, ok=ok,
                  app_cpu_ms_per_request=1000 * cpu_app / max(ok, 1), db_cpu_ms_per_request=1000 * cpu_db / max(ok, 1))
    print(f"   {name:9s} {result['rps']:8.1f} req/s   p50 {result['p50_ms']:6.1f} ms   p99 {result['p99_ms']:7.1f} ms   "
          f"non-2xx {result['non_2xx']}   socket errors {result['socket_errors']}   rows stored {stored}   "
          f"CPU per request: web {result['app_cpu_ms_per_request']:.2f} ms, PostgreSQL {result['db_cpu_ms_per_request']:.2f} ms",
          flush=True)
    return result


MATCHED_EMAIL = "matched.patient@example.test"


def add_matched_patient(database_url: str) -> None:
    """One professional and a care link for MATCHED_EMAIL (born 1980-04-02): those submissions are routed."""
    from datetime import date

    from dsar import create_app
    from dsar.extensions import db
    from dsar.models import CareLink, Professional

    app = create_app(h.app_config(database_url))
    with app.app_context():
        pro = Professional(external_id="bench-pro", first_name="Alice", last_name="Martin",
                           email="dr.martin@example.test", rpps="10000000001")
        db.session.add(pro)
        db.session.flush()
        db.session.add(CareLink(professional_id=pro.id, patient_ref="bench-patient", patient_email=MATCHED_EMAIL,
                                patient_birth_date=date(1980, 4, 2), active=True))
        db.session.commit()
        db.engine.dispose()


def profile_in_process(n: int, key: str, cprofile_dir: Path | None = None) -> dict:
    """Runs in a child with the production environment: CPU and SQL statements per submission, per kind.

    With ``cprofile_dir``, each kind's measured submissions also run under cProfile, dumped to
    ``<dir>/<kind>.pstats``, timed in process CPU time (the CPU figures then include cProfile's own overhead).
    """
    import cProfile

    import sqlalchemy as sa

    from dsar import create_app
    from dsar.extensions import db

    from dsar.services import notifications

    app = create_app()
    statements: list[int] = [0]
    # CPU inside notifications.queue_email (rendering, sealing, the outbox row), apart: the email leaves the
    # request with issue 19 item 7, so what a submission costs besides it is printed too.
    in_email = [0.0]
    queue_email = notifications.queue_email

    def timed_queue_email(*args, **kwargs):
        started = time.process_time()
        try:
            return queue_email(*args, **kwargs)
        finally:
            in_email[0] += time.process_time() - started

    notifications.queue_email = timed_queue_email

    def count(*_args):
        statements[0] += 1

    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https"})  # production cookies are Secure
    headers = {"Authorization": f"Bearer {key}"}
    run = f"prof{time.time_ns()}"

    def api(i: int, matched: bool):
        body = h.account_submission(i, run + ("m" if matched else "u"))
        if matched:
            body["subject"]["email"] = MATCHED_EMAIL
        return lambda: client.post("/api/v1/requests", json=body, headers=headers), (201,)

    def form(i: int):
        env = {"REMOTE_ADDR": f"10.{i // 62500 % 250}.{i // 250 % 250}.{i % 250 + 1}"}
        page = client.get("/request/new", environ_base=env).get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        nonce = re.search(r'name="submission" value="([^"]+)"', page)
        data = {"type": "access", "subject_kind": "prospect", "acting_for": "self", "subject_first_name": "Jeanne",
                "subject_last_name": f"Banc{i}", "subject_email": f"form{i}.{run}@example.test", "accuracy": "1",
                "csrf_token": csrf, "submission": nonce.group(1) if nonce else ""}
        return lambda: client.post("/request/new", data=data, environ_base=env), (303,)

    kinds = {"api_unmatched": lambda i: api(i, False), "api_matched": lambda i: api(i, True), "public_form": form}
    out = {}
    with app.app_context():
        engine = db.engine
    for name, make in kinds.items():
        for i in range(5):  # warm-up: templates compiled, connections open, caches filled
            call, ok = make(10_000_000 + i)
            assert call().status_code in ok
        cpu, email_cpu, stmts, failures = [], [], [], 0
        profiler = cProfile.Profile(time.process_time) if cprofile_dir else None  # CPU, not waits
        for i in range(n):
            call, ok = make(i)
            statements[0] = 0
            in_email[0] = 0.0
            sa.event.listen(engine, "before_cursor_execute", count)
            if profiler:
                profiler.enable()
            t0 = time.process_time()
            res = call()
            cpu.append(time.process_time() - t0)
            email_cpu.append(in_email[0])
            if profiler:
                profiler.disable()
            sa.event.remove(engine, "before_cursor_execute", count)
            stmts.append(statements[0])
            failures += res.status_code not in ok
        out[name] = {"cpu_ms_median": 1000 * statistics.median(cpu), "cpu_ms_mean": 1000 * statistics.mean(cpu),
                     "cpu_ms_besides_email_median": 1000 * statistics.median(c - e for c, e in zip(cpu, email_cpu)),
                     "email_cpu_ms_median": 1000 * statistics.median(email_cpu),
                     "statements_median": statistics.median(stmts), "statements_max": max(stmts),
                     "failures": failures, "n": n}
        if profiler:
            profiler.dump_stats(str(cprofile_dir / f"{name}.pstats"))
            # Python function calls per submission: unlike CPU time, the same on a busy machine.
            out[name]["calls_per_submission"] = sum(entry.callcount for entry in profiler.getstats()) / n
    import dsar

    out["code"] = str(Path(dsar.__file__).parent.parent)  # which checkout was measured
    return out


def run_profile(n: int, key: str, env: dict, code: Path, cprofile_dir: Path | None = None) -> dict:
    cmd = [sys.executable, __file__, "--profile-child", str(n), "--key", key, "--code", str(code)]
    if cprofile_dir:
        cprofile_dir.mkdir(parents=True, exist_ok=True)
        cmd += ["--cprofile", str(cprofile_dir.resolve())]
    res = subprocess.run(cmd, env=dict(env, PYTHONPATH=os.pathsep.join(filter(None, [str(code),
                                                                                       env.get("PYTHONPATH")]))),
                         capture_output=True, text=True, cwd=code)
    if res.returncode != 0:
        print(res.stderr[-3000:], flush=True)
        raise SystemExit("the in-process profile failed")
    figures = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"   in-process profile of {figures.pop('code')}, {n} submissions of each kind (web CPU of the submitting request; SQL statements "
          f"counted with before_cursor_execute):", flush=True)
    for name, f in figures.items():
        calls = f"   Python calls {f['calls_per_submission']:,.0f}" if "calls_per_submission" in f else ""
        print(f"   {name:14s} CPU per submission {f['cpu_ms_median']:6.2f} ms median ({f['cpu_ms_mean']:6.2f} mean), "
              f"besides queue_email {f['cpu_ms_besides_email_median']:6.2f} ms   "
              f"SQL statements {f['statements_median']:.0f} (max {f['statements_max']})   failures {f['failures']}{calls}",
              flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=30, help="measured seconds per server and round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers, for both servers")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for a load average <= 1.5")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--profile", type=int, default=200, help="in-process submissions of each kind (0: none)")
    parser.add_argument("--kinds", default="unmatched",
                        help="wrk loads, among unmatched,matched,floor (floor: bench/floor_app.py, dsar's API stack "
                             "around the baseline's INSERT)")
    parser.add_argument("--cprofile", type=Path, metavar="DIR",
                        help="also run the in-process profile under cProfile: DIR/<kind>.pstats (CPU figures inflated)")
    parser.add_argument("--code", type=Path, default=h.ROOT,
                        help="the checkout whose dsar is served and profiled (a baseline: another worktree); "
                             "the script, the baseline app and the database set-up stay this checkout's")
    parser.add_argument("--profile-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.code = args.code.resolve()
    if args.profile_child:
        sys.path.insert(0, str(args.code))  # before this checkout, which _harness put first
        print(json.dumps(profile_in_process(args.profile_child, args.key, args.cprofile)))
        return 0

    info = h.print_header("intake throughput: dsar API submissions vs a bare Flask INSERT")
    info["load_at_start"] = h.wait_until_quiet(skip=args.no_wait)
    print(f"   load average at start: {info['load_at_start']:.2f}")
    commit = subprocess.run(["git", "-C", str(args.code), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    info["code"] = f"{args.code} ({commit or 'no git'})"
    print(f"   dsar served and profiled from {info['code']}")
    work = Path(tempfile.mkdtemp(prefix="dsar-bench-intake-"))
    script = work / "submit.lua"
    script.write_text(LUA)
    print(f"   gunicorn logs: {work}")
    results = {"dsar": [], "baseline": []}
    with h.temp_database("dsar_bench_intake") as url, h.PrivateRedis() as redis:
        h.migrate(url)
        import sqlalchemy as sa

        eng = sa.create_engine(url)
        with eng.begin() as c:
            c.execute(sa.text(BASELINE_TABLE))
        eng.dispose()
        key = h.make_api_key(url, ["submit"])
        add_matched_patient(url)
        # One key sends everything, as the IDOMED application does; its per-key limit (600/min) is lifted here,
        # the limiter itself still runs (a Redis counter per call).
        dsar_env = h.production_env(url, redis.url, DSAR_API_RATE_LIMIT="100000000 per minute")
        base_env = dict(dsar_env, BASELINE_DATABASE_URL=url)
        dsar_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(args.code), dsar_env.get("PYTHONPATH")]))
        if args.profile:
            results["profile"] = run_profile(args.profile, key, dict(dsar_env, DSAR_RATE_LIMIT_SUBMIT="100000000 per minute"),
                                             args.code, args.cprofile)
        kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
        for kind in kinds[1:]:
            results[f"dsar_{kind}"] = []
        for n in range(1, args.rounds + 1):
            print(f"-- round {n}", flush=True)
            for kind in kinds:
                port = h.free_port()
                name = "dsar" if kind == "unmatched" else f"dsar_{kind}"
                if kind == "floor":   # dsar's API stack around the baseline's INSERT (bench/floor_app.py)
                    proc = h.gunicorn("floor_app:app", dsar_env, workers=args.workers, port=port,
                                      chdir=h.ROOT / "bench", log=work / "floor.log")
                    path, table = "/bench/submit", "baseline_submissions"
                else:
                    proc = h.gunicorn("wsgi:app", dsar_env, workers=args.workers, port=port, chdir=args.code,
                                      log=work / "dsar.log")
                    path, table = "/api/v1/requests", "requests"
                try:
                    results[name].append(measure(name, proc, port, path, key, url, table, args, script))
                finally:
                    h.stop(proc)
            port = h.free_port()
            proc = h.gunicorn("baseline_app:app", base_env, workers=args.workers, port=port, chdir=h.ROOT / "bench",
                              log=work / "baseline.log")
            try:
                results["baseline"].append(measure("baseline", proc, port, "/submit", "-", url,
                                                   "baseline_submissions", args, script))
            finally:
                h.stop(proc)
    if not results["dsar"]:  # --rounds 0: the profile alone
        if args.json:
            args.json.write_text(json.dumps({"machine": info, "results": results}, indent=2, default=str))
        return 0
    dsar_rps = statistics.median(r["rps"] for r in results["dsar"])
    base_rps = statistics.median(r["rps"] for r in results["baseline"])
    ratio = dsar_rps / base_rps
    print(f"== result: dsar {dsar_rps:.1f} submissions/s, baseline {base_rps:.1f} inserts/s, ratio {ratio:.3f} "
          f"(target >= 0.25 this round, >= 0.5 in the end: {'met' if ratio >= 0.25 else 'MISSED'}); "
          f"load average now {h.load_average():.2f}")
    for name in results:
        if name.startswith("dsar_"):
            rps = statistics.median(r["rps"] for r in results[name])
            print(f"   {name}: {rps:.1f} submissions/s, ratio {rps / base_rps:.3f}")
    if args.json:
        for rows in results.values():
            for r in rows if isinstance(rows, list) else []:
                r.pop("raw", None)
        args.json.write_text(json.dumps({"machine": info, "args": vars(args) | {"json": str(args.json)},
                                         "results": results, "ratio": ratio}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
