"""The ``dsar`` command: a Flask CLI group (run, db, worker, create-staff, create-api-key, demo, audit …).

``dsar --help`` and every command's ``--help`` work with no configuration at all: the commands are declared on
the group itself, and the application is created only when a command runs. A configuration error (a missing
secret, a bad policy file) is then one line on stderr and exit status 2 (a usage error), never a traceback.
"""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext

from .config import ConfigError
from .extensions import db

CONFIG_ERROR_STATUS = 2   # as click's usage errors: the command was not run, nothing changed


class ConfigurationProblem(click.ClickException):
    """Printed by click as ``Error: <message>`` on stderr, exit status 2."""

    exit_code = CONFIG_ERROR_STATUS

    def __init__(self, err: ConfigError):
        super().__init__(f"configuration: {err}")


def _create_app(*args, **kwargs):
    from . import create_app

    try:
        return create_app()
    except ConfigError as err:
        raise ConfigurationProblem(err) from None


class DsarGroup(FlaskGroup):
    """FlaskGroup whose help never needs the application (Flask prints a traceback when it cannot load it)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        names = set(click.Group.list_commands(self, ctx))
        try:
            names.update(ctx.ensure_object(ScriptInfo).load_app().cli.list_commands(ctx))
        except ConfigurationProblem:
            pass   # the commands of the group are listed; running one will say what is wrong
        return sorted(names)


@click.group(cls=DsarGroup, create_app=_create_app, add_default_commands=True)
def main():
    """dsar — GDPR data subject requests."""


def _db_group() -> click.Group:
    """Flask-Migrate's ``db`` group, whose own callback loads the app even for ``dsar db upgrade --help``.

    Flask-Migrate's group keeps ``-d``/``-x`` on the app context (``g.directory``, ``g.x_arg``) and its
    subcommands read them there. Here the group itself loads nothing; each subcommand, when it runs (not for
    its ``--help``), loads the app, sets those two values from the group's options, then runs unchanged.
    """
    from flask import g
    from flask_migrate.cli import db as migrate_db

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


def _commands() -> list[click.Command]:
    """dsar's own commands, and those its extensions add (db: Flask-Migrate, openapi: flask-smorest)."""
    from flask_smorest.spec import openapi_cli

    from .cli_directory import import_care_links_command, import_professionals_command
    from .cli_operations import reset_second_factor_command, rotate_keys_command
    from .systems.check import systems_cli

    return [worker, scheduler, create_staff, create_api_key, audit_group, demo, run_periodic,
            import_professionals_command, import_care_links_command, rotate_keys_command,
            reset_second_factor_command, systems_cli, _db_group(), openapi_cli]


def register_cli(app) -> None:
    for command in _commands():
        app.cli.add_command(command)
    if app.config["DSAR_ENV"] != "production":
        app.cli.add_command(demo_totp)


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
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(["submit", "read", "staff", "directory", "suppression"]))
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


for _command in _commands():
    main.add_command(_command)
