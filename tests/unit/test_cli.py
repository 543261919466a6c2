"""The ``dsar`` command with no configuration: help is clean, a configuration error is one line and exit status 2."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dsar.cli import main

DSAR = Path(sys.executable).with_name("dsar")


def clean_run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """``dsar …`` as a newcomer runs it: no DSAR_* variable, no secret, an empty directory."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    return subprocess.run([str(DSAR), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def all_command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append(prefix + (name,))
        if isinstance(command, click.Group):
            paths.extend(all_command_paths(command, prefix + (name,)))
    return paths


def test_dsar_help_without_configuration_lists_the_commands(tmp_path):
    result = clean_run(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for name in ("worker", "create-staff", "create-api-key", "db", "demo", "audit"):
        assert f"  {name} " in result.stdout
    assert not (tmp_path / "instance").exists()


def test_a_subcommand_help_without_configuration_is_clean(tmp_path):
    # db's own group callback loads the application in Flask-Migrate: the case that printed a traceback.
    result = clean_run(tmp_path, "db", "upgrade", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and "Upgrade to a later version" in result.stdout


def test_every_command_help_works_without_configuration(monkeypatch):
    for name in [n for n in os.environ if n.startswith("DSAR_")] + ["SECRET_KEY", "DATABASE_URL", "REDIS_URL",
                                                                      "PUBLIC_BASE_URL", "FLASK_APP"]:
        monkeypatch.delenv(name, raising=False)
    paths = all_command_paths(main)
    assert ("db", "upgrade") in paths and ("worker",) in paths and ("import-care-links",) in paths
    for path in paths:
        result = CliRunner().invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output, result.exception)
        assert result.output.startswith("Usage: ")


@pytest.mark.parametrize("args", [("worker",), ("db", "upgrade"), ("create-api-key", "--name", "x", "--scope", "read")])
def test_a_configuration_error_is_one_line_on_stderr_and_status_2(tmp_path, args):
    result = clean_run(tmp_path, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SECRET_KEY is not set" in lines[0], result.stderr
    assert result.stdout == ""


def test_db_upgrade_runs_the_migrations_and_db_current_reads_them(tmp_path):
    """`dsar db upgrade` really upgrades (its --help alone used to be tested; the command itself failed)."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DSAR_ENV": "development",
           "DSAR_INSTANCE_PATH": str(tmp_path / "instance"), "REDIS_URL": ""}
    up = subprocess.run([str(DSAR), "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=120)
    assert up.returncode == 0, up.stderr[-2000:]
    current = subprocess.run([str(DSAR), "db", "current"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=60)
    assert current.returncode == 0 and "(head)" in current.stdout, current.stdout + current.stderr[-2000:]
