"""``dsar import-professionals FILE`` and ``dsar import-care-links FILE``: the directory from CSV files.

Each prints what it did and every rejected line with its reason, and exits 1
when anything was rejected, so that a scheduled import that goes wrong is seen.
``--dry-run`` checks a file without changing anything.
"""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from .extensions import db
from .services.directory import import_care_links, import_professionals


def _run(path: str, dry_run: bool, importer) -> None:
    with open(path, "rb") as fh:
        report = importer(fh)
    for line in report.lines():
        click.echo(line)
    if dry_run or report.file_error:
        db.session.rollback()
        if dry_run and not report.file_error:
            click.echo("Dry run: nothing was saved.")
    else:
        db.session.commit()
    if not report.ok:
        sys.exit(1)


@click.command("import-professionals")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and report, but save nothing.")
@with_appcontext
def import_professionals_command(path: str, dry_run: bool):
    """Create or update professionals from a CSV file (external_id, first_name, last_name, email, rpps,
    language, active, contract_ended_on)."""
    _run(path, dry_run, import_professionals)


@click.command("import-care-links")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and report, but save nothing.")
@with_appcontext
def import_care_links_command(path: str, dry_run: bool):
    """Create or update patient-professional links from a CSV file (professional_external_id, patient_ref,
    patient_email, patient_phone, patient_birth_date, active, ended_on). No health data."""
    _run(path, dry_run, import_care_links)
