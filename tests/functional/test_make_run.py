"""Trying it (issue 18): `PORT=5001 make run` serves on that port, its emails link to it, the demo logins are
printed on every run, and the TOTP hint it prints works as printed (from the project directory, any shell)."""
from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _newcomer_env(tmp_path, **extra) -> dict:
    """A shell with no DSAR_* variable and no PUBLIC_BASE_URL; the instance directory is private to the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSAR_", "PUBLIC_BASE_URL", "REDIS", "DATABASE"))}
    env.update({"DSAR_INSTANCE_PATH": str(tmp_path / "instance"), "HOME": str(tmp_path)}, **extra)
    return env


def _make_run(tmp_path, port: int):
    proc = subprocess.Popen(["make", "-s", "run"], cwd=PROJECT, env=_newcomer_env(tmp_path, PORT=str(port)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        output.append(line)
        if "Running on" in line or "Press CTRL+C" in line:
            return proc, "".join(output)
    os.killpg(proc.pid, signal.SIGTERM)
    pytest.fail("make run did not start:\n" + "".join(output))


def _stop(proc) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


@pytest.mark.slow
def test_port_5001_make_run_serves_there_links_there_and_prints_working_logins(tmp_path):
    port = _free_port()
    proc, first = _make_run(tmp_path, port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200
    finally:
        _stop(proc)
    assert f"dsar is starting on http://127.0.0.1:{port}" in first
    assert "dpo@demo.test" in first and "demo-password-2026" in first
    # The demo's emails (written to files) link to the port the service runs on.
    mail = "".join(p.read_text(errors="replace") for p in (tmp_path / "instance" / "mail").glob("*.eml"))
    links = set(re.findall(r"http://127\.0\.0\.1:(\d+)", mail.replace("=\n", "")))
    assert links == {str(port)}, links

    # A second run prints the logins again (it used to say "printed above" and print nothing).
    proc, second = _make_run(tmp_path, port)
    _stop(proc)
    assert "already loaded" in second
    assert "demo-password-2026" in second and "dpo@demo.test" in second

    # The TOTP hint works as printed, from the project directory, in a shell without DSAR_ENV.
    hint = re.search(r"current code: (DSAR_ENV=development \S+ demo-totp dpo@demo\.test)", second).group(1)
    result = subprocess.run(hint, shell=True, cwd=PROJECT, env=_newcomer_env(tmp_path), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"\d{6}", result.stdout.strip()), shlex.quote(result.stdout)


@pytest.mark.slow
def test_public_base_url_wins_over_the_port(tmp_path):
    env = _newcomer_env(tmp_path, PORT="5001", PUBLIC_BASE_URL="https://privacy.example.org/", DSAR_ENV="development")
    code = "from dsar import create_app; print(create_app().config['PUBLIC_BASE_URL'])"
    out = subprocess.run([str(PROJECT / ".venv/bin/python"), "-c", code], cwd=PROJECT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "https://privacy.example.org"
    env.pop("PUBLIC_BASE_URL")
    out = subprocess.run([str(PROJECT / ".venv/bin/python"), "-c", code], cwd=PROJECT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "http://127.0.0.1:5001"
