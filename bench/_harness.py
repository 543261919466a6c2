"""What the benchmark and fault scripts share: the machine, a quiet machine, private databases and Redis,
gunicorn, wrk, an SMTP sink, percentiles. Everything listens on 127.0.0.1 only.

Not a benchmark itself: ``bench/README.md`` lists the scripts.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("DSAR_BENCH_PG_ADMIN_URL") or os.environ.get(
    "DSAR_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --- the machine ----------------------------------------------------------------------------------------------


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def machine() -> dict:
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        found = re.search(r"Model name:\s*(.+)", out)
        model = found.group(1).strip() if found else ""
    except OSError:
        pass
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    pg = ""
    try:
        import sqlalchemy as sa

        eng = sa.create_engine(PG_ADMIN_URL)
        with eng.connect() as c:
            pg = c.execute(sa.text("SHOW server_version")).scalar()
        eng.dispose()
    except Exception:  # noqa: BLE001 - informative only
        pass
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(), "postgresql": pg, "load_1min": load_average(),
    }


def wait_until_quiet(max_load: float = 1.5, patience: float = 3600, poll: float = 30, skip: bool = False) -> float:
    """Wait until the 1-minute load average is at most ``max_load`` (other people run tests on these cores)."""
    started = time.monotonic()
    while True:
        load = load_average()
        if skip or load <= max_load:
            return load
        if time.monotonic() - started > patience:
            raise SystemExit(f"the machine stayed busy (load {load:.2f} > {max_load}) for {patience:.0f} s; "
                             "run again later or pass --no-wait")
        print(f"  waiting for a quiet machine: load average {load:.2f} > {max_load}", flush=True)
        time.sleep(poll)


def print_header(title: str, argv: list[str] | None = None) -> dict:
    info = machine()
    print(f"== {title}")
    print(f"   command: {' '.join(argv or sys.argv)}")
    print(f"   date: {info['date']}; machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB; "
          f"Python {info['python']}; PostgreSQL {info['postgresql']}; load average {info['load_1min']:.2f}")
    return info


# --- numbers ----------------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def summary_ms(seconds: list[float]) -> str:
    return (f"median {statistics.median(seconds) * 1000:.1f} ms, p95 {percentile(seconds, 95) * 1000:.1f} ms, "
            f"min {min(seconds) * 1000:.1f} ms, max {max(seconds) * 1000:.1f} ms (n={len(seconds)})")


# --- PostgreSQL ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def temp_database(prefix: str, admin_url: str = PG_ADMIN_URL, keep: bool = False):
    """A database of its own, created now and dropped at the end (unless ``keep``)."""
    import sqlalchemy as sa

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        if not keep:
            with admin.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"   kept database {name}")
        admin.dispose()


def app_config(database_url: str, **overrides) -> dict:
    """create_app() settings for a script working on a bench database directly (not through HTTP)."""
    instance = Path(tempfile.mkdtemp(prefix="dsar-bench-"))
    config = {"DSAR_ENV": "test", "SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": None,
              "INSTANCE_PATH": str(instance), "DSAR_FILES_DIR": str(instance / "files"), "MAIL_BACKEND": "smtp",
              "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": 9, "PUBLIC_BASE_URL": "http://127.0.0.1",
              "RATELIMIT_ENABLED": False}
    config.update(overrides)
    return config


def migrate(database_url: str, **config) -> None:
    from flask_migrate import upgrade

    from dsar import create_app
    from dsar.extensions import db

    app = create_app(app_config(database_url, **config))
    with app.app_context():
        upgrade()
        db.engine.dispose()


# --- processes ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str, *, method: str = "GET", body: dict | None = None, headers: dict | None = None,
                timeout: float = 10) -> int:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        **(headers or {}), **({"Content-Type": "application/json"} if data is not None else {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def wait_http(url: str, timeout: float = 60, expect: int | tuple[int, ...] = 200) -> float:
    """Wait for ``url`` to answer ``expect``. /health is 503 until a worker and the scheduler beat: a bench that runs
    neither waits with ``expect=(200, 503)`` (the server is up)."""
    expected = expect if isinstance(expect, tuple) else (expect,)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if http_status(url, timeout=2) in expected:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer {expect} within {timeout} s")


def stop(proc: subprocess.Popen | None, sig=signal.SIGTERM, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return sorted(out)


def production_env(database_url: str, redis_url: str | None, *, smtp_port: int = 9, queue: str = "dsar-bench",
                   **extra) -> dict:
    """The environment of a production deployment (README, Deploying), on loopback."""
    from cryptography.fernet import Fernet

    instance = Path(tempfile.mkdtemp(prefix="dsar-bench-instance-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSAR_", "MAIL_", "REDIS", "DATABASE", "RATELIMIT"))}
    env.update({
        "DSAR_ENV": "production", "SECRET_KEY": secrets.token_hex(32), "DSAR_FILE_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": database_url, "PUBLIC_BASE_URL": "https://privacy.example.test", "DSAR_QUEUE": queue,
        "MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port),
        "MAIL_DEFAULT_SENDER": "dsar@example.test", "DSAR_DPO_EMAIL": "dpo@example.test",
        "DSAR_INSTANCE_PATH": str(instance), "DSAR_FILES_DIR": str(instance / "files"), "DSAR_LOG_LEVEL": "WARNING",
    })
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update({k: str(v) for k, v in extra.items()})
    return env


def gunicorn(app: str, env: dict, *, workers: int, port: int, chdir: Path = ROOT, extra: list[str] | None = None,
             log: Path | None = None) -> subprocess.Popen:
    cmd = [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--chdir", str(chdir),
           "--log-level", "warning", "--timeout", "120", *(extra or []), app]
    out = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen(cmd, env=env, cwd=chdir, stdout=out, stderr=out)


class PrivateRedis:
    """A redis-server of our own on a free port, without persistence (a restart loses what it held)."""

    def __init__(self):
        self.exe = shutil.which("redis-server")
        if not self.exe:
            raise SystemExit("redis-server is needed (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "PrivateRedis":
        from redis import Redis

        self.proc = subprocess.Popen([self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                Redis(port=self.port, socket_connect_timeout=0.2).ping()
                return self
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()


# --- wrk ------------------------------------------------------------------------------------------------------


def run_wrk(url: str, *, seconds: int, connections: int, threads: int = 2, script: Path | None = None,
            args: list[str] | None = None) -> dict:
    exe = shutil.which("wrk")
    if not exe:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    cmd = [exe, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", "--timeout", "30s"]
    if script:
        cmd += ["-s", str(script)]
    cmd.append(url)
    if args:
        cmd += ["--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def parse_wrk(out: str) -> dict:
    result = {"raw": out}
    result["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    result["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    found = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = int(found.group(1)) if found else 0
    found = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["socket_errors"] = sum(int(x) for x in found.groups()) if found else 0
    for p in ("50", "75", "90", "99"):
        found = re.search(rf"^\s+{p}%\s+(\S+)", out, re.M)
        result[f"p{p}_ms"] = _ms(found.group(1)) if found else float("nan")
    return result


# --- an SMTP sink -----------------------------------------------------------------------------------------------


class SmtpSink:
    """An SMTP server on loopback counting what it accepts, per recipient."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.lock = threading.Lock()
        self.by_recipient: dict[str, int] = {}
        self.message_ids: dict[str, int] = {}
        self.total = 0
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        found = re.search(rb"^Message-ID:\s*(\S+)", envelope.content, re.M | re.I)
        with self.lock:
            self.total += 1
            for rcpt in envelope.rcpt_tos:
                self.by_recipient[rcpt] = self.by_recipient.get(rcpt, 0) + 1
            if found:
                mid = found.group(1).decode()
                self.message_ids[mid] = self.message_ids.get(mid, 0) + 1
        return "250 OK"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def account_submission(i: int, run: str) -> dict:
    """An API submission from a signed-in account of the application (policy art. 8.1)."""
    return {
        "type": "access", "channel": "account", "language": "fr", "client_reference": f"{run}-{i:07d}",
        "identity": {"method": "account", "verified": True}, "external_account_id": f"acct-{i}",
        "subject": {"kind": "patient", "first_name": "Jeanne", "last_name": f"Banc{i}",
                    "email": f"patient{i}.{run}@example.test", "birth_date": "1980-04-02"},
    }


def make_api_key(database_url: str, scopes: list[str], name: str = "bench") -> str:
    from dsar import create_app
    from dsar.extensions import db
    from dsar.services.staff import create_api_key

    app = create_app(app_config(database_url))
    with app.app_context():
        _, secret = create_api_key(name=name, scopes=scopes, created_by="bench")
        db.session.commit()
        db.engine.dispose()
    return secret


class Supervised(threading.Thread):
    """A process kept running as systemd's Restart=always would: started again, a second later, when it exits."""

    def __init__(self, name: str, cmd: list[str], env: dict, log: Path, cwd: Path = ROOT):
        super().__init__(daemon=True, name=name)
        self.cmd, self.env, self.log, self.cwd = cmd, env, log, cwd
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def _spawn(self) -> None:
        with self.lock:
            out = open(self.log, "ab")
            self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.cwd, stdout=out, stderr=out)

    def run(self) -> None:
        self._spawn()
        while not self.stopping.is_set():
            if self.proc.poll() is not None and not self.stopping.is_set():
                time.sleep(1)
                self.restarts += 1
                self._spawn()
            time.sleep(0.2)

    def family(self) -> list[int]:
        """The process and everything it forked (RQ's work horse runs in a session of its own)."""
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                return []
            found, todo = [self.proc.pid], [self.proc.pid]
            while todo:
                for child in children(todo.pop()):
                    found.append(child)
                    todo.append(child)
            return found

    def kill_family(self) -> int:
        pids = self.family()
        for pid in reversed(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def stop(self) -> None:
        self.stopping.set()
        for pid in reversed(self.family()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if self.proc:
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill_family()


def whole_requests(database_url: str) -> dict:
    """Integrity of what was stored: every request has its subject, requester, 'received' event and first email."""
    import sqlalchemy as sa

    eng = sa.create_engine(database_url)
    with eng.connect() as c:
        row = c.execute(sa.text("""
            SELECT count(*) AS requests,
                   count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM request_subjects s WHERE s.request_id = r.id))
                       AS without_subject,
                   count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM requesters q WHERE q.request_id = r.id))
                       AS without_requester,
                   count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.request_id = r.id
                                                      AND e.action = 'received')) AS without_received_event,
                   count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.request_id = r.id))
                       AS without_email
            FROM requests r""")).mappings().one()
        outbox = dict(c.execute(sa.text("SELECT status, count(*) FROM outbox GROUP BY status")).all())
    eng.dispose()
    return {**dict(row), "outbox": outbox}
