"""Fault: an RQ worker killed (SIGKILL) in the middle of a job — the job runs again, nothing lost.

    .venv/bin/python bench/fault_worker_kill.py        # 3 kills before 250, 2 after it, 5 at random; ~8 minutes

Production set-up on loopback (PostgreSQL and Redis of its own, gunicorn, an RQ worker and ``dsar scheduler``
kept running as systemd would, an SMTP server). The SMTP server can hold a message at two moments, so that each
kill lands where it is meant to (the run checks it: a kill whose message was not held fails the run):

- phase 1, before 250: the message is held at the end of DATA, before the server answers; the worker, its
  work horse and its scheduler are killed at once (SIGKILL, the machine dies); the held message is then
  refused, as a server does when its client is gone. The email must arrive exactly once, later: the outbox
  sweep gives the message back once the dead worker's claim is older than CLAIM_TIMEOUT (105 s).
- phase 2, the window: the server accepts the message (250, counted as received) and holds the client's QUIT,
  so the worker is killed after the acceptance and before the commit that marks the message sent. Delivery
  is at least once: the email must arrive exactly twice, with the same Message-ID, not more, not less.
- phase 3, at random: ``--random`` kills at random moments during a stream of submissions. Any requester
  without an email, or with two emails of different Message-IDs, or one Message-ID more than twice, fails
  the run; a Message-ID received twice is a kill that landed in the window of phase 2, and is counted.
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
    """The SMTP sink, able to hold the next message before answering its DATA ("data"), or after accepting it,
    at the client's QUIT ("quit")."""

    def __init__(self):
        super().__init__()
        self.hold_next: str | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self.held: list[str] = []
        self._quit_hold = set()

    async def _hold(self) -> None:
        self.holding.set()
        try:
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        finally:                # cleared however the hold ends, so that the next round waits for its own message
            self.holding.clear()

    async def handle_DATA(self, server, session, envelope):
        mode, self.hold_next = self.hold_next, None
        if mode == "data":
            self.release.clear()
            self.held.extend(envelope.rcpt_tos)
            await self._hold()
            return "451 4.3.0 client gone, transaction abandoned"
        answer = await super().handle_DATA(server, session, envelope)
        if mode == "quit":
            self.release.clear()
            self.held.extend(envelope.rcpt_tos)
            self._quit_hold.add(id(session))
        return answer

    async def handle_QUIT(self, server, session, envelope):
        if id(session) in self._quit_hold:
            self._quit_hold.discard(id(session))
            await self._hold()
        return "221 Bye"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stalled", type=int, default=3, help="kills while a message is held before 250")
    parser.add_argument("--window", type=int, default=2, help="kills after 250, before the commit")
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
        cron = h.Supervised("scheduler", [str(h.BIN / "dsar"), "scheduler"], env, work / "scheduler.log")
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
        window_kills = []
        random_kills = []
        try:
            worker.start()
            cron.start()
            h.wait_http(f"{base}/health", timeout=90)      # 200: web, database, Redis, a worker and the scheduler
            time.sleep(3)
            # Phase 1: killed while the SMTP server holds the message.
            def trickle() -> None:
                for _ in range(args.stream // 3):
                    submit()
                    time.sleep(0.2)

            def held_kill(mode: str, n: int) -> dict:
                # Let the worker drain what is queued, then hold the very next message.
                time.sleep(5)
                before = len(sink.held)
                sink.hold_next = mode
                victim = submit()
                if not sink.holding.wait(120):
                    raise SystemExit(f"no message was held ({mode})")
                held = sink.held[-1]
                really = sink.holding.is_set() and len(sink.held) == before + 1
                killed = worker.kill_family()
                time.sleep(0.5)
                sink.release.set()
                where = "before 250" if mode == "data" else "after 250, before the commit"
                print(f"   kill {n + 1} ({where}): worker killed ({killed} processes) while the email to {held} was "
                      f"held{'' if really else ' — NOT held at the kill'}", flush=True)
                return {"recipient": held, "processes_killed": killed, "held_at_kill": really, "submitted": victim}

            with ThreadPoolExecutor(2) as pool:
                background = [pool.submit(trickle)]
                for n in range(args.stalled):
                    stalled_kills.append(held_kill("data", n))
                for n in range(args.window):
                    window_kills.append(held_kill("quit", n))
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
            # The window's emails are awaited twice: their second copy comes after the claim timeout.
            wanted = {r: 1 for r in expected} | {k["recipient"]: 2 for k in window_kills}
            while time.monotonic() - started < args.deliver_within:
                with sink.lock:
                    missing = [r for r, n in wanted.items() if sink.by_recipient.get(r, 0) < n]
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
                "WHERE recipient = ANY(:r)"), {"r": [k["recipient"] for k in stalled_kills + window_kills]}).all()}
        eng.dispose()
        with sink.lock:
            per = {r: sink.by_recipient.get(r, 0) for r in expected}
            dup_ids = sum(1 for n in sink.message_ids.values() if n > 1)
            too_many_ids = sum(1 for n in sink.message_ids.values() if n > 2)
            distinct_ids = len(sink.message_ids)
    stalled_ok = all(per.get(k["recipient"]) == 1 and k["held_at_kill"] for k in stalled_kills)
    window_ok = all(per.get(k["recipient"]) == 2 and k["held_at_kill"] for k in window_kills)
    window_recipients = {k["recipient"] for k in window_kills}
    several = sorted(r for r, n in per.items() if n > 1 and r not in window_recipients)
    report.update({
        "submissions": len(expected),
        "stalled_kills": [{"recipient": k["recipient"], "emails": per.get(k["recipient"]), "held_at_kill": k["held_at_kill"],
                           "processes_killed": k["processes_killed"]} for k in stalled_kills],
        "window_kills": [{"recipient": k["recipient"], "emails": per.get(k["recipient"]), "held_at_kill": k["held_at_kill"],
                          "processes_killed": k["processes_killed"]} for k in window_kills],
        "message_ids_more_than_twice": too_many_ids, "distinct_message_ids": distinct_ids,
        "random_kills": random_kills, "integrity": integrity, "outbox_attempts": attempts,
        "exactly_one": sum(1 for n in per.values() if n == 1), "none": sum(1 for n in per.values() if n == 0),
        "several": len(several), "duplicate_message_ids": dup_ids, "worker_restarts": worker.restarts,
        "held_messages_attempts": {r: a for r, (a, _) in held_rows.items()},
    })
    # Every email but the window's duplicates has its own Message-ID: distinct ids == requesters.
    ids_ok = distinct_ids == len(expected) and too_many_ids == 0
    ok = stalled_ok and window_ok and ids_ok and report["none"] == 0 and integrity["requests"] == len(expected)
    print(f"   stored: {integrity}; outbox attempts: {attempts}")
    print(f"   held before 250 then killed: {[(k['recipient'], per.get(k['recipient'])) for k in stalled_kills]} "
          f"(emails received each, 1 expected)")
    print(f"   held after 250 then killed: {[(k['recipient'], per.get(k['recipient'])) for k in window_kills]} "
          f"(emails received each, 2 with one Message-ID expected); attempts {report['held_messages_attempts']}")
    print(f"   Message-IDs: {distinct_ids} distinct for {len(expected)} requesters, {too_many_ids} received more than twice")
    print(f"   all requesters: exactly one email {report['exactly_one']}, none {report['none']}, several "
          f"{report['several']} (same Message-ID twice: {dup_ids}); worker restarted {worker.restarts} times; logs in {work}")
    verdict = (f"{len(stalled_kills)} kills before 250: each email once; {len(window_kills)} kills after 250: each "
               f"email twice with one Message-ID" if stalled_ok and window_ok
               else "a held email did NOT arrive as the delivery guarantee says (or a kill missed its hold)")
    print(f"== result: {'PASS' if ok else 'FAIL'}: {verdict}; {report['none']} requesters without email; "
          f"{report['several']} random kills landed in the window (same Message-ID twice); "
          f"load average now {h.load_average():.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
