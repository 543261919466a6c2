"""The commands of ``dsar`` (run by the ``dsar`` program, dsar/cli.py, and on ``app.cli`` by ``create_app``).

Below both: ``create_app`` registers them and the program loads ``create_app``, so neither imports the other.
"""
from __future__ import annotations

import sys

import click
from flask import current_app, g
from flask.cli import ScriptInfo, with_appcontext
from flask_migrate.cli import db as migrate_db
from flask_smorest.spec import openapi_cli
from redis import Redis
from rq import SimpleWorker, Worker

from . import jobs
from .audit import verify_chain
from .cli_directory import import_care_links_command, import_professionals_command
from .cli_operations import reset_second_factor_command, rotate_keys_command
from .demo import current_totp, load_demo
from .extensions import db
from .jobs import resolve
from .jobs.schedule import PERIODIC
from .jobs.scheduler import LOCK_TTL, run_scheduler
from .services.staff import create_api_key as create_api_key_for
from .services.staff import create_staff_account
from .systems.check import systems_cli


def _db_group() -> click.Group:
    """Flask-Migrate's ``db`` group, whose own callback loads the app even for ``dsar db upgrade --help``.

    Flask-Migrate's group keeps ``-d``/``-x`` on the app context (``g.directory``, ``g.x_arg``) and its
    subcommands read them there. Here the group itself loads nothing; each subcommand, when it runs (not for
    its ``--help``), loads the app, sets those two values from the group's options, then runs unchanged.
    """
    def with_group_options(command: click.Command) -> click.Command:
        original = command.callback

        @click.pass_context
        def callback(ctx, *args, **kwargs):
            if not current_app:
                ctx.with_resource(ctx.ensure_object(ScriptInfo).load_app().app_context())
            g.directory = ctx.parent.params.get("directory")
            g.x_arg = ctx.parent.params.get("x_arg")
            return ctx.invoke(original, *args, **kwargs)

        return click.Command(command.name, params=command.params, callback=callback, help=command.help,
                             short_help=command.short_help, epilog=command.epilog)

    return click.Group("db", commands=[with_group_options(c) for c in migrate_db.commands.values()],
                       params=migrate_db.params, help=migrate_db.help, callback=lambda **_: None)


def commands() -> list[click.Command]:
    """dsar's own commands, and those its extensions add (db: Flask-Migrate, openapi: flask-smorest)."""
    return [worker, scheduler, create_staff, create_api_key, audit_group, demo, run_periodic,
            import_professionals_command, import_care_links_command, rotate_keys_command,
            reset_second_factor_command, systems_cli, _db_group(), openapi_cli]


def register_cli(app) -> None:
    for command in commands():
        app.cli.add_command(command)
    if app.config["DSAR_ENV"] != "production":
        app.cli.add_command(demo_totp)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--simple", is_flag=True, help="Run jobs in the worker process instead of forking (debugging).")
@with_appcontext
def worker(burst: bool, simple: bool):
    """Run an RQ worker for the dsar queue (needs REDIS_URL)."""
    backend = current_app.extensions["dsar_jobs"]
    if backend.name != "rq":
        raise click.ClickException("REDIS_URL is not set: jobs run in-process, there is nothing for a worker to do.")
    # Jobs run in this application (the queue interface builds none: it sits below create_app).
    jobs.serve(current_app._get_current_object())
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
    backend = current_app.extensions["dsar_jobs"]
    if backend.name != "rq":
        raise click.ClickException("REDIS_URL is not set: periodic jobs run in the web process (DSAR_RUN_PERIODIC_IN_PROCESS=1).")
    # The lock and the loop need their own connection: the backend's has a 5 s read timeout for web requests.
    run_scheduler(Redis.from_url(backend.url), backend.queue_name, lock_ttl=lock_ttl or LOCK_TTL)


@click.command("run-periodic")
@click.argument("name", required=False)
@with_appcontext
def run_periodic(name: str | None):
    """Run periodic jobs now (all, or the one named), in this process."""
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
    staff = create_staff_account(email=email, name=name, role=role, password=password, language=language)
    db.session.commit()
    click.echo(f"Created {staff.role} account {staff.email} (id {staff.id}).")


@click.command("create-api-key")
@click.option("--name", required=True, help="What the key is for, e.g. 'IDOMED application'.")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(["submit", "read", "staff", "directory", "suppression"]))
@with_appcontext
def create_api_key(name: str, scopes: tuple[str, ...]):
    """Create an API key. The key is printed once and never stored in clear."""
    key, secret = create_api_key_for(name=name, scopes=list(scopes), created_by="cli")
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
    click.echo(load_demo(if_empty=if_empty))


@click.command("demo-totp")
@click.argument("email")
@with_appcontext
def demo_totp(email: str):
    """Development only: the current TOTP code of a demo account (admin@demo.test, dpo@demo.test)."""
    try:
        click.echo(current_totp(email))
    except KeyError as exc:
        raise click.ClickException(str(exc)) from None
