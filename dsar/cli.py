"""The ``dsar`` command: a Flask CLI group (run, db, worker, create-staff, create-api-key, demo, audit …).

``dsar --help`` and every command's ``--help`` work with no configuration at all: the commands are declared on
the group itself, and the application is created only when a command runs. A configuration error (a missing
secret, a bad policy file) is then one line on stderr and exit status 2 (a usage error), never a traceback.
"""
from __future__ import annotations

import click
from flask.cli import FlaskGroup, ScriptInfo

from . import create_app
from .cli_commands import commands
from .config import ConfigError

CONFIG_ERROR_STATUS = 2   # as click's usage errors: the command was not run, nothing changed


class ConfigurationProblem(click.ClickException):
    """Printed by click as ``Error: <message>`` on stderr, exit status 2."""

    exit_code = CONFIG_ERROR_STATUS

    def __init__(self, err: ConfigError):
        super().__init__(f"configuration: {err}")


def _create_app(*args, **kwargs):
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


for _command in commands():
    main.add_command(_command)
