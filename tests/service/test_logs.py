"""Logs (issue 14, item 9): each line once, failed sign-ins logged without personal data, JSON on request, and an
access log that never shows a secret link."""
import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cryptography.fernet import Fernet

from dsar.extensions import db
from dsar.logs import redact_path
from factories import make_staff

BIN = Path(sys.executable).parent

SCRIPT = """
import logging
from dsar import create_app
create_app(); create_app()          # a second app in the process must not add a second handler
logging.getLogger("dsar.jobs.outbox").warning("marker-from-a-module")
create_app().logger.warning("marker-from-the-app")
"""


def _production_env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSAR_", "DATABASE_URL", "REDIS_URL"))}
    env.update(DSAR_ENV="production", SECRET_KEY="k" * 40, DSAR_FILE_KEYS=Fernet.generate_key().decode(),
               PUBLIC_BASE_URL="https://dsar.example.org", DATABASE_URL=f"sqlite:///{tmp_path}/x.db",
               DSAR_ALLOW_SQLITE="1", DSAR_INSTANCE_PATH=str(tmp_path), **extra)
    return env


def _stderr_of(tmp_path, **extra) -> str:
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=_production_env(tmp_path, **extra),
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    return run.stderr


def test_every_line_is_printed_once(tmp_path):
    err = _stderr_of(tmp_path)
    assert err.count("marker-from-a-module") == 1, err
    assert err.count("marker-from-the-app") == 1, err
    assert "WARNING dsar.jobs.outbox: marker-from-a-module" in err


def test_json_lines_for_log_collectors(tmp_path):
    lines = [json.loads(line) for line in _stderr_of(tmp_path, DSAR_LOG_FORMAT="json").splitlines() if line.strip()]
    [record] = [r for r in lines if r["message"] == "marker-from-a-module"]
    assert record["level"] == "WARNING" and record["logger"] == "dsar.jobs.outbox" and record["time"]


def test_failed_sign_ins_are_logged_without_personal_data(app, caplog):
    staff = make_staff("agent", email="agent.secret@example.test")
    db.session.commit()
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="dsar.services.auth"):
        client.post("/backoffice/login", data={"email": "agent.secret@example.test", "password": "hunter2-typo"})
        client.post("/backoffice/login", data={"email": "ghost.person@example.test", "password": "hunter2-typo"})
    lines = [r.getMessage() for r in caplog.records if r.name == "dsar.services.auth"]
    assert lines == [f"back-office sign-in failed: reason=password account={staff.id} failures=1",
                     "back-office sign-in failed: reason=password account=unknown failures=1"]
    text = caplog.text
    assert "secret@" not in text and "ghost" not in text and "hunter2" not in text and "127.0.0.1" not in text


def test_secret_tokens_are_redacted_from_paths():
    assert redact_path("/status/eyJyIjo0Mn0.aXbC.sig/withdraw?lang=en") == "/status/<token>/withdraw"
    assert redact_path("/task/abc/acknowledge") == "/task/<token>/acknowledge"
    assert redact_path("/backoffice/password/abc") == "/backoffice/password/<token>"
    assert redact_path("/download/abc/12") == "/download/<token>/12"
    assert redact_path("/confirm/abc") == "/confirm/<token>"
    assert redact_path("/api/v1/requests/DSAR-2026-000001") == "/api/v1/requests/DSAR-2026-000001"
    assert redact_path("/x/" + "a" * 40) == "/x/<token>"


def test_the_shipped_gunicorn_config_keeps_tokens_out_of_the_access_log(tmp_path):
    port = _free_port()
    log = tmp_path / "access.log"
    env = _production_env(tmp_path, DSAR_RUN_PERIODIC_IN_PROCESS="0")
    subprocess.run([str(BIN / "dsar"), "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    server = subprocess.Popen([str(BIN / "gunicorn"), "-c", "python:dsar.gunicorn_conf", "--workers", "1",
                               "--bind", f"127.0.0.1:{port}", "--access-logfile", str(log), "dsar.wsgi:app"],
                              env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(f"{base}/health")
        token = "eyJyIjo0Mn0.aXbCdE.TOPSECRETsignature"
        for path in (f"/status/{token}", f"/task/{token}/acknowledge", f"/confirm/{token}?x={token}"):
            req = urllib.request.Request(base + path, headers={"Referer": f"https://mail.example/{token}"})
            try:
                urllib.request.urlopen(req, timeout=10)
            except urllib.error.HTTPError:
                pass
    finally:
        server.terminate()
        server.wait(20)
    text = log.read_text()
    assert "TOPSECRET" not in text
    assert '"GET /status/<token> HTTP/1.1"' in text and '"GET /task/<token>/acknowledge HTTP/1.1"' in text
    assert '"GET /confirm/<token> HTTP/1.1"' in text


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.2)


def test_every_route_that_takes_a_token_is_redacted_in_the_logs(app):
    """Each secret-link route of the app (a rule with ``<token>``), with a token shorter than the length taken
    for a secret anywhere, loses its token in what the logs show (dsar.logs.SECRET_PATH_PREFIXES)."""
    import re

    from dsar.logs import redact_path

    token = "Tok3nTok3nTok3n"
    rules = [r.rule for r in app.url_map.iter_rules() if "<token>" in r.rule]
    assert any(r.startswith("/systems/") for r in rules) and any(r.startswith("/status/") for r in rules)
    for rule in rules:
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: token if m.group(1) == "token" else "1", rule)
        assert token not in redact_path(path), rule
