"""`dsar demo`: the data `make run` shows, built through the real services."""
import sqlalchemy as sa

from dsar import audit
from dsar.extensions import db
from dsar.models import DataRequest, ProfessionalTask, Staff


def test_demo_loads_requests_at_every_stage_with_intact_audit_trails(app, runner, run_jobs):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "dpo@demo.test" in result.output and "demo-password-2026" in result.output
    run_jobs()
    statuses = set(db.session.scalars(sa.select(DataRequest.status)).all())
    assert {"unconfirmed", "awaiting_identity", "identity_review", "open", "in_progress",
            "awaiting_requester", "closed"} <= statuses
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Staff)) == 4
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProfessionalTask)) >= 1
    assert audit.verify_chain() == []
    again = runner.invoke(args=["demo", "--if-empty"])
    assert again.exit_code == 0 and "already loaded" in again.output
    assert "demo-password-2026" in again.output and "dpo@demo.test" in again.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Staff)) == 4


def test_demo_totp_prints_a_six_digit_code(app, runner):
    result = runner.invoke(args=["demo-totp", "dpo@demo.test"])
    assert result.exit_code == 0 and result.output.strip().isdigit() and len(result.output.strip()) == 6
    assert runner.invoke(args=["demo-totp", "nobody@demo.test"]).exit_code != 0


def test_demo_builds_the_sample_application_and_collects_from_it(make_app, monkeypatch, tmp_path):
    """`make run`: the demo's application database is mapped by the systems file; requests that open are collected."""
    from pathlib import Path

    from dsar.models import SystemRun
    from tests.appdb import SYSTEMS_FILE

    instance = tmp_path / "demo-instance"
    url = f"sqlite:///{instance / 'demo-app.sqlite3'}"
    monkeypatch.setenv("DSAR_APP_DB_READ_URL", url)
    monkeypatch.setenv("DSAR_APP_DB_WRITE_URL", url)
    app = make_app(DSAR_SYSTEMS=str(SYSTEMS_FILE), INSTANCE_PATH=str(instance))  # no file yet: start-up goes on
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["demo"])
        assert result.exit_code == 0, result.output
        assert Path(instance / "demo-app.sqlite3").exists()
        from tests.collection_support import run_jobs_of

        for _ in range(4):
            run_jobs_of(app)
        db.session.expire_all()
        runs = db.session.scalars(sa.select(SystemRun)).all()
        assert runs, "no request of the demo was collected"
        lea = next(r for r in runs if r.request.subject.email == "lea.martin@demo.test")
        assert lea.status == "done" and lea.rows["messages"] == 3 and lea.rows["documents"] == 1
        check = app.test_cli_runner().invoke(args=["systems", "check"])
        assert check.exit_code == 0, check.output
