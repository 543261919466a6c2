"""Fault: Redis stopped during 1,000 API submissions — nothing lost, every email sent exactly once after it returns.

    .venv/bin/python bench/fault_redis_outage.py       # 1,000 submissions over ~60 s; Redis down from 20 s to 40 s

Production set-up on loopback, each part of its own: PostgreSQL database, Redis (jobs and rate-limit
counters, no persistence: a restart loses what it held), gunicorn (4 workers), an RQ worker and ``dsar scheduler``
kept running as systemd would (restarted when they exit), an SMTP server counting what it receives.
Submissions are made at a steady pace by 8 clients; Redis is killed (SIGKILL) a third of the way in and
started again, empty, two thirds of the way in. A client that gets anything but 201 retries with the same
client_reference, as the API asks. At the end every requester must have received exactly one email.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60, help="the submissions are spread over this time")
    parser.add_argument("--down-at", type=float, default=20)
    parser.add_argument("--up-at", type=float, default=40)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--deliver-within", type=float, default=600, help="give up waiting for the emails after this")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for a load average <= 1.5")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    info = h.print_header("fault: Redis stopped during API submissions")
    info["load_at_start"] = h.wait_until_quiet(skip=args.no_wait)
    print(f"   load average at start: {info['load_at_start']:.2f}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="dsar-fault-redis-"))
    run = f"r{int(time.time())}"
    report: dict = {"machine": info}
    with h.temp_database("dsar_fault_redis") as url, h.PrivateRedis() as redis, h.SmtpSink() as sink:
        h.migrate(url)
        key = h.make_api_key(url, ["submit"])
        env = h.production_env(url, redis.url, smtp_port=sink.port, DSAR_API_RATE_LIMIT="100000000 per minute")
        port = h.free_port()
        web = h.gunicorn("wsgi:app", env, workers=4, port=port, log=work / "gunicorn.log")
        worker = h.Supervised("worker", [str(h.BIN / "dsar"), "worker"], env, work / "worker.log")
        cron = h.Supervised("scheduler", [str(h.BIN / "dsar"), "scheduler"], env,
                            work / "cron.log")
        base = f"http://127.0.0.1:{port}"
        try:
            worker.start()
            cron.start()
            h.wait_http(f"{base}/health", timeout=90)      # 200: web, database, Redis, a worker and the scheduler
            first_codes: dict[int, int] = {}
            retries = {"count": 0, "gave_up": 0}
            lock = threading.Lock()
            health_during_outage: list[int] = []
            t0 = time.monotonic()

            def submit(i: int) -> None:
                delay = t0 + i * args.seconds / args.submissions - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                body = h.account_submission(i, run)
                headers = {"Authorization": f"Bearer {key}"}
                for attempt in range(6):
                    try:
                        code = h.http_status(f"{base}/api/v1/requests", method="POST", body=body, headers=headers,
                                             timeout=60)
                    except OSError:
                        code = -1
                    with lock:
                        if attempt == 0:
                            first_codes[i] = code
                        else:
                            retries["count"] += 1
                    if code in (200, 201):
                        return
                    time.sleep(1 + attempt)
                with lock:
                    retries["gave_up"] += 1

            def chaos() -> None:
                time.sleep(max(0.0, t0 + args.down_at - time.monotonic()))
                redis.kill()
                print(f"   {time.monotonic() - t0:5.1f} s: Redis killed", flush=True)
                while time.monotonic() < t0 + args.up_at:
                    try:
                        health_during_outage.append(h.http_status(f"{base}/health", timeout=5))
                    except OSError:
                        health_during_outage.append(-1)
                    time.sleep(1)
                redis.start()
                print(f"   {time.monotonic() - t0:5.1f} s: Redis started again (empty)", flush=True)

            chaos_thread = threading.Thread(target=chaos)
            chaos_thread.start()
            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(submit, range(args.submissions)))
            chaos_thread.join()
            submitted_at = time.monotonic()
            up_at = t0 + args.up_at
            print(f"   {submitted_at - t0:5.1f} s: all submitted; first answers: "
                  f"{ {c: list(first_codes.values()).count(c) for c in sorted(set(first_codes.values()))} }; "
                  f"retries {retries['count']}, given up {retries['gave_up']}; /health while Redis was down: "
                  f"{sorted(set(health_during_outage))}", flush=True)
            expected = {f"patient{i}.{run}@example.test" for i in range(args.submissions)}
            delivered_at = None
            while time.monotonic() - submitted_at < args.deliver_within:
                with sink.lock:
                    got = sum(1 for r in expected if sink.by_recipient.get(r))
                if got == len(expected):
                    delivered_at = time.monotonic()
                    break
                time.sleep(1)
            print(f"   {time.monotonic() - t0:5.1f} s: {got} of {len(expected)} requesters have their email", flush=True)
            time.sleep(70)   # one more outbox sweep: anything sent twice would show now
        finally:
            cron.stop()
            worker.stop()
            h.stop(web)
        integrity = h.whole_requests(url)
        with sink.lock:
            per_requester = [sink.by_recipient.get(r, 0) for r in expected]
            duplicates_by_id = sum(1 for n in sink.message_ids.values() if n > 1)
            others = {k: v for k, v in sink.by_recipient.items() if k not in expected}
    ok = (integrity["requests"] == args.submissions and not any(integrity[k] for k in integrity if k.startswith("without"))
          and per_requester.count(1) == len(expected) and duplicates_by_id == 0)
    report.update({
        "submissions": args.submissions, "first_answers": {str(c): list(first_codes.values()).count(c)
                                                           for c in set(first_codes.values())},
        "retries": retries, "health_while_down": sorted(set(health_during_outage)), "integrity": integrity,
        "requesters_with_exactly_one_email": per_requester.count(1), "requesters_without_email": per_requester.count(0),
        "requesters_with_several": sum(1 for n in per_requester if n > 1), "duplicate_message_ids": duplicates_by_id,
        "other_recipients": others, "seconds_from_redis_back_to_last_email":
            round(delivered_at - up_at, 1) if delivered_at else None,
        "worker_restarts": worker.restarts, "cron_restarts": cron.restarts, "ok": ok,
    })
    print(f"   stored: {integrity}")
    print(f"   emails: exactly one for {per_requester.count(1)} requesters, none for {per_requester.count(0)}, several for "
          f"{report['requesters_with_several']}; duplicate Message-IDs {duplicates_by_id}; other recipients {others}")
    print(f"   worker restarted {worker.restarts} times, dsar scheduler {cron.restarts} times (logs in {work})")
    print(f"== result: {'PASS' if ok else 'FAIL'}: {args.submissions} submissions, Redis down "
          f"{args.up_at - args.down_at:.0f} s; every email sent exactly once "
          f"{report['seconds_from_redis_back_to_last_email']} s after Redis came back; load average now "
          f"{h.load_average():.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
