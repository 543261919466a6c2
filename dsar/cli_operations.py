"""Operators' commands: ``dsar rotate-keys`` and the break-glass ``dsar reset-second-factor`` (README, Production)."""
from __future__ import annotations

import sys

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from . import audit
from .actors import Actor
from .extensions import db
from .keyrotation import RotationError, not_under_first_key, rotate_keys, sources
from .models import Staff
from .services.auth import normalise_email, reset_second_factor


@click.command("rotate-keys")
@click.option("--verify", is_flag=True, help="Change nothing: exit 1 if anything is not readable with the first key alone.")
@click.option("--only", metavar="SOURCE", help="Only this source, e.g. files or staff.totp_secret.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=500, show_default=True)
@with_appcontext
def rotate_keys_command(verify: bool, only: str | None, batch_size: int):
    """Re-encrypt every stored file and secret under the first key of DSAR_FILE_KEYS (resumable: run it again)."""
    names = [s.name for s in sources()]
    if only and only not in names:
        raise click.UsageError(f"--only must be one of: {', '.join(names)}")
    if not verify:
        try:
            done = rotate_keys(batch_size=batch_size, only=only)
        except RotationError as exc:
            raise click.ClickException(f"{exc}. Put the key that encrypted it back in DSAR_FILE_KEYS.") from None
        for name, count in done.items():
            click.echo(f"{name}: {count} re-encrypted")
        audit.record(Actor.system("cli"), "file_keys_rotated", stream="system", details={"re_encrypted": done})
        db.session.commit()
    left = not_under_first_key()
    if left:
        for name, count in left.items():
            click.echo(f"NOT YET under the first key: {name}: {count}")
        sys.exit(1)
    click.echo("Everything is readable with the first key alone: the other keys can be removed from DSAR_FILE_KEYS.")


@click.command("reset-second-factor")
@click.option("--email", required=True, help="The staff account whose TOTP authenticator is lost.")
@with_appcontext
def reset_second_factor_command(email: str):
    """Break-glass: forget an account's TOTP authenticator (it enrols a new one at its next sign-in)."""
    staff = db.session.scalar(sa.select(Staff).where(Staff.email == normalise_email(email)))
    if staff is None:
        raise click.ClickException("no staff account has this email address")
    reset_second_factor(staff, Actor.system("cli"))
    db.session.commit()
    click.echo(f"Second factor of account {staff.id} ({staff.role}) reset: it enrols a new authenticator at its next "
               "sign-in with its current password.")
