"""Fault: PostgreSQL restarted while the service is under load — it answers again within seconds, and no request
is half written.

    .venv/bin/python bench/fault_postgres_restart.py   # a cluster of its own; 90 s of load, 3 restarts

The restarts use ``pg_ctlcluster --skip-systemctl-redirect <version> <cluster> restart`` on a PostgreSQL
cluster created for the run (``pg_createcluster``, port of its own, dropped at the end): restarting the
shared ``main`` cluster would break whatever else runs on the machine (``--cluster main`` does it anyway,
knowingly). Modes: fast (the default: sessions cut, clean shutdown) twice, then immediate (a crash:
recovery from the WAL on start).

dsar runs with production settings (gunicorn 4 workers, an RQ worker and ``dsar scheduler``, Redis and SMTP of
its own); 8 clients submit through the API without pause, and a client whose submission failed sends it again
at once with the same client_reference, during the outage, until it is stored. A probe reads /health 20 times
a second. For each restart: the downtime (the longest stretch without a 200 from /health around it, from the
first failed probe to the first 200 after it) and how many submissions failed meanwhile. Any 500 fails the run:
the database being away must be a 503 in every phase of a request. At the end the database is checked: every
request has its subject, its requester, its 'received' event and its first email, and none is stored twice.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402


def pg_version() -> str:
    out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    return out.split()[0]


class Cluster:
    def __init__(self, version: str, name: str, port: int | None, existing: bool):
        self.version, self.name, self.existing = version, name, existing
        self.port = port

    def create(self) -> "Cluster":
        if not self.existing:
            subprocess.run(["pg_createcluster", self.version, self.name, "-p", str(self.port), "--", "--auth=trust"],
                           check=True, capture_output=True)
            self.ctl("start")
        return self

    def ctl(self, action: str, *extra: str) -> float:
        started = time.monotonic()
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *extra, self.version, self.name, action],
                       check=True, capture_output=True)
        return time.monotonic() - started

    def drop(self) -> None:
        if not self.existing:
            subprocess.run(["pg_dropcluster", "--stop", self.version, self.name], check=False, capture_output=True)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


def downtime(probes: list[tuple[float, int]], at: float, within: float = 60) -> float | None:
    """Seconds from the first probe without a 200 at or after ``at`` to the first 200 after it."""
    window = [(t, c) for t, c in probes if at - 0.5 <= t <= at + within]
    down = next((t for t, c in window if c != 200), None)
    if down is None:
        return 0.0
    up = next((t for t, c in window if t > down and c == 200), None)
    return round(up - down, 2) if up is not None else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--restarts", default="fast,fast,immediate", help="modes, comma-separated")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cluster", default=None, help="an existing cluster to restart (e.g. main), knowingly")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for a load average <= 1.5")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    info = h.print_header("fault: PostgreSQL restarted under load")
    info["load_at_start"] = h.wait_until_quiet(skip=args.no_wait)
    print(f"   load average at start: {info['load_at_start']:.2f}", flush=True)
    version = pg_version()
    if args.cluster:
        port = int(subprocess.run(["pg_conftool", version, args.cluster, "show", "port"], capture_output=True,
                                  text=True, check=True).stdout.split("=")[1].strip().strip("'"))
        cluster = Cluster(version, args.cluster, port, existing=True)
    else:
        cluster = Cluster(version, f"dsarfault{int(time.time()) % 100000}", h.free_port(), existing=False)
    work = Path(tempfile.mkdtemp(prefix="dsar-fault-pg-"))
    run = f"p{int(time.time())}"
    modes = [m.strip() for m in args.restarts.split(",") if m.strip()]
    report: dict = {"machine": info, "cluster": f"{version}/{cluster.name}", "restarts": []}
    cluster.create()
    try:
        with h.temp_database("dsar_fault_pg", admin_url=cluster.admin_url) as url, h.PrivateRedis() as redis, \
                h.SmtpSink() as sink:
            h.migrate(url)
            key = h.make_api_key(url, ["submit"])
            env = h.production_env(url, redis.url, smtp_port=sink.port, DSAR_API_RATE_LIMIT="100000000 per minute")
            port = h.free_port()
            web = h.gunicorn("wsgi:app", env, workers=4, port=port, log=work / "gunicorn.log")
            worker = h.Supervised("worker", [str(h.BIN / "dsar"), "worker"], env, work / "worker.log")
            scheduler = h.Supervised("scheduler", [str(h.BIN / "dsar"), "scheduler"], env, work / "scheduler.log")
            probes: list[tuple[float, int]] = []
            base = f"http://127.0.0.1:{port}"
            results: dict[int, list[tuple[float, int]]] = {}
            lock = threading.Lock()
            stop = threading.Event()
            counter = iter(range(10_000_000))
            t0 = time.monotonic()

            def client():
                while not stop.is_set():
                    with lock:
                        i = next(counter)
                    body = h.account_submission(i, run)
                    for _ in range(600):          # retried at once, during the outage, with the same client_reference
                        try:
                            code = h.http_status(f"{base}/api/v1/requests", method="POST", body=body,
                                                 headers={"Authorization": f"Bearer {key}"}, timeout=60)
                        except OSError:
                            code = -1
                        with lock:
                            results.setdefault(i, []).append((time.monotonic() - t0, code))
                        if code in (200, 201) or stop.is_set():
                            break
                        time.sleep(0.2)

            def probe():
                while not stop.is_set():
                    try:
                        code = h.http_status(f"{base}/health", timeout=2)
                    except OSError:
                        code = -1
                    probes.append((time.monotonic() - t0, code))
                    time.sleep(0.05)

            try:
                worker.start()
                scheduler.start()
                h.wait_http(f"{base}/health", timeout=90)    # 200: a worker and the scheduler beat too
                t0 = time.monotonic()
                threading.Thread(target=probe, daemon=True).start()
                clients = [threading.Thread(target=client) for _ in range(args.clients)]
                for t in clients:
                    t.start()
                gap = args.seconds / (len(modes) + 1)
                for n, mode in enumerate(modes, 1):
                    time.sleep(max(0.0, t0 + n * gap - time.monotonic()))
                    at = time.monotonic() - t0
                    took = cluster.ctl("restart", "-m", mode) if mode != "fast" else cluster.ctl("restart")
                    done = time.monotonic()
                    back = None
                    while time.monotonic() - done < 60:
                        try:
                            if h.http_status(f"{base}/health", timeout=5) == 200:
                                back = time.monotonic() - done
                                break
                        except OSError:
                            pass
                        time.sleep(0.05)
                    report["restarts"].append({"mode": mode, "at_s": round(at, 1), "restart_command_s": round(took, 2),
                                               "health_200_after_s": round(back, 2) if back is not None else None})
                    print(f"   {at:5.1f} s: restart ({mode}) took {took:.2f} s; /health answered 200 "
                          f"{back:.2f} s after it returned" if back is not None else
                          f"   {at:5.1f} s: restart ({mode}): /health did not come back within 60 s", flush=True)
                time.sleep(max(0.0, t0 + args.seconds - time.monotonic()))
                time.sleep(5)                              # the last retries go through
                stop.set()
                for t in clients:
                    t.join(120)
                for r in report["restarts"]:
                    r["downtime_s"] = downtime(probes, r["at_s"])
                    print(f"   restart ({r['mode']}) at {r['at_s']} s: /health not 200 for {r['downtime_s']} s", flush=True)
                codes = [c for runs in results.values() for _, c in runs]
                failed = sorted(i for i, runs in results.items() if runs[-1][1] not in (200, 201))
                summary = {str(c): codes.count(c) for c in sorted(set(codes))}
                print(f"   {len(results)} submissions in {args.seconds:.0f} s: answers {summary}", flush=True)
                # Stored before any retry: what a failure left behind.
                before_retry = h.whole_requests(url)
                retried = {}
                for i in failed:
                    code = h.http_status(f"{base}/api/v1/requests", method="POST", body=h.account_submission(i, run),
                                         headers={"Authorization": f"Bearer {key}"}, timeout=60)
                    retried[code] = retried.get(code, 0) + 1
                after_retry = h.whole_requests(url)
                import sqlalchemy as sa

                eng = sa.create_engine(url)
                with eng.connect() as c:
                    distinct_refs = c.execute(sa.text(
                        "SELECT count(DISTINCT client_reference) FROM api_submissions")).scalar()
                    stored_refs = c.execute(sa.text("SELECT count(*) FROM api_submissions")).scalar()
                eng.dispose()
            finally:
                stop.set()
                scheduler.stop()
                worker.stop()
                h.stop(web)
    finally:
        cluster.drop()
    half_written = sum(v for k, v in after_retry.items() if k.startswith("without"))
    server_errors = summary.get("500", 0)
    ok = (half_written == 0 and after_retry["requests"] == len(results) == distinct_refs == stored_refs
          and server_errors == 0
          and all(r["health_200_after_s"] is not None and r["health_200_after_s"] <= 10 for r in report["restarts"]))
    report.update({"submissions": len(results), "answers": summary, "failed_first_time": len(failed),
                   "stored_before_retry": before_retry, "retries": retried, "stored_after_retry": after_retry,
                   "stored_twice": stored_refs - distinct_refs, "ok": ok})
    print(f"   before the retries: {before_retry}")
    print(f"   {len(failed)} failed submissions retried with their client_reference: {retried}")
    print(f"   after the retries: {after_retry}; stored twice: {stored_refs - distinct_refs}")
    slowest = max((r["health_200_after_s"] or 999) for r in report["restarts"])
    downtimes = ", ".join(f"{r['downtime_s']}" for r in report["restarts"])
    print(f"== result: {'PASS' if ok else 'FAIL'}: downtime per restart {downtimes} s; {server_errors} answers 500; "
          f"/health back within {slowest:.2f} s of each restart command; "
          f"{half_written} requests half written; {len(results)} submissions stored exactly once after retries; "
          f"load average now {h.load_average():.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
