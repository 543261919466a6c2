"""The ``dsar`` command: a Flask CLI group (run, db, worker, create-staff, create-api-key, demo, audit …)."""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from .extensions import db


def _create_app(*args, **kwargs):
    from . import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True)
def main():
    """dsar — GDPR data subject requests."""


def register_cli(app) -> None:
    app.cli.add_command(worker)
    app.cli.add_command(scheduler)
    app.cli.add_command(create_staff)
    app.cli.add_command(create_api_key)
    app.cli.add_command(audit_group)
    app.cli.add_command(demo)
    app.cli.add_command(run_periodic)
    if app.config["DSAR_ENV"] != "production":
        app.cli.add_command(demo_totp)
    from .cli_directory import import_care_links_command, import_professionals_command
    from .cli_operations import reset_second_factor_command, rotate_keys_command

    app.cli.add_command(rotate_keys_command)
    app.cli.add_command(reset_second_factor_command)

    app.cli.add_command(import_professionals_command)
    app.cli.add_command(import_care_links_command)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--simple", is_flag=True, help="Run jobs in the worker process instead of forking (debugging).")
@with_appcontext
def worker(burst: bool, simple: bool):
    """Run an RQ worker for the dsar queue (needs REDIS_URL)."""
    from rq import SimpleWorker, Worker

    backend = current_app.extensions["dsar_jobs"]
    if backend.name != "rq":
        raise click.ClickException("REDIS_URL is not set: jobs run in-process, there is nothing for a worker to do.")
    # Drop pooled connections before forking: each work horse opens its own.
    db.engine.dispose()
    cls = SimpleWorker if simple else Worker
    # A heartbeat at least every 45 s (worker_ttl - 15): /health counts a worker silent for longer as gone.
    w = cls([backend.queue()], connection=backend.redis, worker_ttl=WORKER_TTL)
    w.work(burst=burst, with_scheduler=True)


#: Seconds an RQ worker's registration lives without a heartbeat (RQ's default is 420).
WORKER_TTL = 60


@click.command("scheduler")
@click.option("--lock-ttl", type=click.IntRange(3, 3600), default=None,
              help="Seconds before a waiting scheduler takes over from one that stopped beating (default 150).")
@with_appcontext
def scheduler(lock_ttl: int | None):
    """Schedule the periodic jobs (needs REDIS_URL). Start it anywhere, even twice: one holds a lock, others wait."""
    from .jobs.scheduler import LOCK_TTL, run_scheduler

    backend = current_app.extensions["dsar_jobs"]
    if backend.name != "rq":
        raise click.ClickException("REDIS_URL is not set: periodic jobs run in the web process (DSAR_RUN_PERIODIC_IN_PROCESS=1).")
    from redis import Redis

    # The lock and the loop need their own connection: the backend's has a 5 s read timeout for web requests.
    run_scheduler(Redis.from_url(backend.url), backend.queue_name, lock_ttl=lock_ttl or LOCK_TTL)


@click.command("run-periodic")
@click.argument("name", required=False)
@with_appcontext
def run_periodic(name: str | None):
    """Run periodic jobs now (all, or the one named), in this process."""
    from .jobs import resolve
    from .jobs.schedule import PERIODIC

    for p in PERIODIC:
        if name in (None, p.name):
            result = resolve(p.func_path)()
            click.echo(f"{p.name}: {result}")


@click.command("create-staff")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["admin", "dpo", "agent", "auditor"]), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--language", type=click.Choice(["fr", "en"]), default="fr")
@with_appcontext
def create_staff(email: str, name: str, role: str, password: str, language: str):
    """Create a back-office account. Admin and DPO accounts enrol TOTP at first login."""
    from .services.staff import create_staff_account

    staff = create_staff_account(email=email, name=name, role=role, password=password, language=language)
    db.session.commit()
    click.echo(f"Created {staff.role} account {staff.email} (id {staff.id}).")


@click.command("create-api-key")
@click.option("--name", required=True, help="What the key is for, e.g. 'IDOMED application'.")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(["submit", "read", "staff", "directory"]))
@with_appcontext
def create_api_key(name: str, scopes: tuple[str, ...]):
    """Create an API key. The key is printed once and never stored in clear."""
    from .services.staff import create_api_key as create

    key, secret = create(name=name, scopes=list(scopes), created_by="cli")
    db.session.commit()
    click.echo(f"API key '{key.name}' (scopes: {', '.join(key.scopes)}). Keep it now; it is not shown again:")
    click.echo(secret)


@click.group("audit")
def audit_group():
    """The audit trail."""


@audit_group.command("verify")
@click.option("--stream", help="Only this stream, e.g. request:42.")
@with_appcontext
def audit_verify(stream: str | None):
    """Recompute the hash chains and report the first broken link of each broken stream."""
    from .audit import verify_chain

    breaks = verify_chain(stream)
    if not breaks:
        click.echo("Audit trail intact.")
        return
    for b in breaks:
        click.echo(f"BROKEN: {b}")
    sys.exit(1)


@click.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when there is already data.")
@with_appcontext
def demo(if_empty: bool):
    """Load demo data: staff, professionals, patients and their links, requests at various stages."""
    from .demo import load_demo

    click.echo(load_demo(if_empty=if_empty))


@click.command("demo-totp")
@click.argument("email")
@with_appcontext
def demo_totp(email: str):
    """Development only: the current TOTP code of a demo account (admin@demo.test, dpo@demo.test)."""
    from .demo import current_totp

    try:
        click.echo(current_totp(email))
    except KeyError as exc:
        raise click.ClickException(str(exc)) from None
