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
"""
from __future__ import annotations

import argparse
import json
import statistics
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
  local body = string.format('{"type":"access","channel":"account","language":"fr",' ..
    '"identity":{"method":"account","verified":true},"client_reference":"%s","external_account_id":"acct-%d-%d",' ..
    '"subject":{"kind":"patient","first_name":"Jeanne","last_name":"Banc","email":"p%d.%d.%s@example.test",' ..
    '"birth_date":"1980-04-02"}}', ref, tid, counter, tid, counter, run)
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
    args = parser.parse_args()

    info = h.print_header("intake throughput: dsar API submissions vs a bare Flask INSERT")
    info["load_at_start"] = h.wait_until_quiet(skip=args.no_wait)
    print(f"   load average at start: {info['load_at_start']:.2f}")
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
        # One key sends everything, as the IDOMED application does; its per-key limit (600/min) is lifted here,
        # the limiter itself still runs (a Redis counter per call).
        dsar_env = h.production_env(url, redis.url, DSAR_API_RATE_LIMIT="100000000 per minute")
        base_env = dict(dsar_env, BASELINE_DATABASE_URL=url)
        for n in range(1, args.rounds + 1):
            print(f"-- round {n}", flush=True)
            port = h.free_port()
            proc = h.gunicorn("wsgi:app", dsar_env, workers=args.workers, port=port, log=work / "dsar.log")
            try:
                results["dsar"].append(measure("dsar", proc, port, "/api/v1/requests", key, url, "requests", args,
                                               script))
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
    dsar_rps = statistics.median(r["rps"] for r in results["dsar"])
    base_rps = statistics.median(r["rps"] for r in results["baseline"])
    ratio = dsar_rps / base_rps
    print(f"== result: dsar {dsar_rps:.1f} submissions/s, baseline {base_rps:.1f} inserts/s, ratio {ratio:.3f} "
          f"(target >= 0.5: {'met' if ratio >= 0.5 else 'MISSED'}); load average now {h.load_average():.2f}")
    if args.json:
        for rows in results.values():
            for r in rows:
                r.pop("raw", None)
        args.json.write_text(json.dumps({"machine": info, "args": vars(args) | {"json": str(args.json)},
                                         "results": results, "ratio": ratio}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
