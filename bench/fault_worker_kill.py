"""Fault: an RQ worker killed (SIGKILL) in the middle of a job — the job runs again, no duplicate email.

    .venv/bin/python bench/fault_worker_kill.py        # 3 kills mid-SMTP, then 5 kills at random; ~13 minutes

Production set-up on loopback (PostgreSQL and Redis of its own, gunicorn, an RQ worker and ``rq cron`` kept
running as systemd would, an SMTP server). The SMTP server can hold a message at the end of DATA, before
answering it, so that the worker is killed in the middle of sending:

- phase 1, mid-send: a request is submitted, its email reaches the SMTP server and is held there; the worker,
  its work horse and its scheduler are killed at once (SIGKILL, the machine dies); the held message is
  then answered with an error, as a server does when its client is gone. Repeated ``--stalled`` times while
  other submissions keep flowing. The email must arrive exactly once, later: RQ runs the abandoned job
  again (it skips a message another attempt may have sent), and the outbox sweep sends it once the dead
  worker's claim is older than CLAIM_TIMEOUT (10 minutes).
- phase 2, at random: ``--random`` kills at random moments during a stream of submissions. A kill that
  falls after the SMTP server said 250 and before the database recorded "sent" makes a second copy, with the
  same Message-ID (at-least-once delivery: the window is reported, not hidden).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402


class HoldingSink(h.SmtpSink):
    """The SMTP sink, able to hold the next message before answering its DATA."""

    def __init__(self):
        super().__init__()
        self.hold_next = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()
        self.held: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        if self.hold_next.is_set():
            self.hold_next.clear()
            self.release.clear()
            self.held.extend(envelope.rcpt_tos)
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            self.holding.clear()
            return "451 4.3.0 client gone, transaction abandoned"
        return await super().handle_DATA(server, session, envelope)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stalled", type=int, default=3, help="kills while a message is held mid-send")
    parser.add_argument("--random", type=int, default=5, help="kills at random moments")
    parser.add_argument("--stream", type=int, default=300, help="other submissions flowing meanwhile")
    parser.add_argument("--deliver-within", type=float, default=1200)
    parser.add_argument("--no-wait", action="store_true", help="do not wait for a load average <= 1.5")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    info = h.print_header("fault: RQ worker killed in the middle of a job")
    info["load_at_start"] = h.wait_until_quiet(skip=args.no_wait)
    print(f"   load average at start: {info['load_at_start']:.2f}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="dsar-fault-worker-"))
    run = f"k{int(time.time())}"
    report: dict = {"machine": info}
    counter = iter(range(1_000_000))
    lock = threading.Lock()
    with h.temp_database("dsar_fault_worker") as url, h.PrivateRedis() as redis, HoldingSink() as sink:
        h.migrate(url)
        key = h.make_api_key(url, ["submit"])
        env = h.production_env(url, redis.url, smtp_port=sink.port, DSAR_API_RATE_LIMIT="100000000 per minute")
        port = h.free_port()
        web = h.gunicorn("wsgi:app", env, workers=2, port=port, log=work / "gunicorn.log")
        worker = h.Supervised("worker", [str(h.BIN / "dsar"), "worker"], env, work / "worker.log")
        cron = h.Supervised("cron", [str(h.BIN / "rq"), "cron", "dsar.jobs.cron_config", "-u", redis.url], env,
                            work / "cron.log")
        base = f"http://127.0.0.1:{port}"
        submitted: list[str] = []

        def submit() -> str:
            with lock:
                i = next(counter)
            body = h.account_submission(i, run)
            for attempt in range(5):
                code = h.http_status(f"{base}/api/v1/requests", method="POST", body=body,
                                     headers={"Authorization": f"Bearer {key}"}, timeout=60)
                if code in (200, 201):
                    break
                time.sleep(1)
            with lock:
                submitted.append(body["subject"]["email"])
            return body["subject"]["email"]

        stalled_kills = []
        random_kills = []
        try:
            h.wait_http(f"{base}/health", timeout=60)
            worker.start()
            cron.start()
            time.sleep(3)
            # Phase 1: killed while the SMTP server holds the message.
            def trickle() -> None:
                for _ in range(args.stream // 3):
                    submit()
                    time.sleep(0.2)

            with ThreadPoolExecutor(2) as pool:
                background = [pool.submit(trickle)]
                for n in range(args.stalled):
                    # Let the worker drain what is queued, then hold the very next message.
                    time.sleep(5)
                    sink.hold_next.set()
                    victim = submit()
                    if not sink.holding.wait(120):
                        raise SystemExit("no message reached the SMTP server")
                    killed = worker.kill_family()
                    held = sink.held[-1]
                    killed_at = time.monotonic()
                    time.sleep(0.5)
                    sink.release.set()
                    stalled_kills.append({"recipient": held, "processes_killed": killed, "at": killed_at,
                                          "submitted": victim})
                    print(f"   kill {n + 1}: worker killed ({killed} processes) while the email to {held} was held "
                          f"mid-send", flush=True)
                for f in background:
                    f.result()
            # Phase 2: killed at random while emails flow.
            stream_done = threading.Event()

            def stream():
                with ThreadPoolExecutor(4) as pool:
                    list(pool.map(lambda _: submit(), range(args.stream)))
                stream_done.set()

            streamer = threading.Thread(target=stream)
            streamer.start()
            for n in range(args.random):
                time.sleep(random.uniform(2, 6))
                random_kills.append(worker.kill_family())
            streamer.join()
            print(f"   {len(random_kills)} random kills during a stream of {args.stream} submissions", flush=True)
            # Wait for every email (the held ones come back after CLAIM_TIMEOUT and the next outbox sweep).
            started = time.monotonic()
            expected = set(submitted)
            while time.monotonic() - started < args.deliver_within:
                with sink.lock:
                    missing = [r for r in expected if not sink.by_recipient.get(r)]
                if not missing:
                    break
                time.sleep(2)
            done_at = time.monotonic()
            with sink.lock:
                missing = [r for r in expected if not sink.by_recipient.get(r)]
            print(f"   waited {done_at - started:.0f} s for the last emails; missing {len(missing)}", flush=True)
            time.sleep(70)   # one more outbox sweep
        finally:
            cron.stop()
            worker.stop()
            h.stop(web)
        integrity = h.whole_requests(url)
        import sqlalchemy as sa

        eng = sa.create_engine(url)
        with eng.connect() as c:
            attempts = dict(c.execute(sa.text("SELECT attempts, count(*) FROM outbox GROUP BY attempts")).all())
            held_rows = {r: (a, s) for r, a, s in c.execute(sa.text(
                "SELECT recipient, attempts, extract(epoch FROM sent_at - claimed_at) FROM outbox "
                "WHERE recipient = ANY(:r)"), {"r": [k["recipient"] for k in stalled_kills]}).all()}
        eng.dispose()
        with sink.lock:
            per = {r: sink.by_recipient.get(r, 0) for r in expected}
            dup_ids = sum(1 for n in sink.message_ids.values() if n > 1)
    stalled_ok = all(per.get(k["recipient"]) == 1 for k in stalled_kills)
    several = sorted(r for r, n in per.items() if n > 1)
    report.update({
        "submissions": len(expected), "stalled_kills": [{"recipient": k["recipient"], "emails": per.get(k["recipient"]),
                                                         "processes_killed": k["processes_killed"]} for k in stalled_kills],
        "random_kills": random_kills, "integrity": integrity, "outbox_attempts": attempts,
        "exactly_one": sum(1 for n in per.values() if n == 1), "none": sum(1 for n in per.values() if n == 0),
        "several": len(several), "duplicate_message_ids": dup_ids, "worker_restarts": worker.restarts,
        "held_messages_attempts": {r: a for r, (a, _) in held_rows.items()},
    })
    ok = stalled_ok and report["none"] == 0 and integrity["requests"] == len(expected)
    print(f"   stored: {integrity}; outbox attempts: {attempts}")
    print(f"   held mid-send then killed: {[(k['recipient'], per.get(k['recipient'])) for k in stalled_kills]} "
          f"(emails received each); attempts {report['held_messages_attempts']}")
    print(f"   all requesters: exactly one email {report['exactly_one']}, none {report['none']}, several "
          f"{report['several']} (same Message-ID twice: {dup_ids}); worker restarted {worker.restarts} times; logs in {work}")
    verdict = ("every email killed mid-send arrived exactly once" if stalled_ok
               else "an email killed mid-send did NOT arrive exactly once")
    print(f"== result: {'PASS' if ok else 'FAIL'}: {verdict}; {report['none']} requesters without email; "
          f"{report['several']} duplicates from {len(random_kills)} random kills; load average now {h.load_average():.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
