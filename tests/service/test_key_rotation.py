"""`dsar rotate-keys` (issue 14, item 5): after it, the old key can be removed and everything is still readable.

Data is written under the old key (a stored file, an admin's TOTP secret, a professional's task link, a webhook
secret); then DSAR_FILE_KEYS=new,old and the command; then DSAR_FILE_KEYS=new alone reads it all.
"""
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import ProfessionalTask, Staff, WebhookEndpoint
from dsar.security import decrypt_secret, encrypt_secret
from dsar.services import routing, webhooks
from dsar.services.documents import file_store
from factories import make_staff
from routing_support import care_link, patient_request, professional, task_of

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=timezone.utc)
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _app(make_app, keys):
    """Every process of one deployment shares SECRET_KEY (it signs the links); only the file keys change."""
    return make_app(DSAR_FILE_KEYS=keys, SECRET_KEY="the-same-secret-key-in-every-process-0123456789")


def _write_under_the_old_key(make_app) -> dict:
    app = _app(make_app, [OLD])
    with app.app_context():
        admin = make_staff("admin")
        admin.totp_secret = encrypt_secret(TOTP)
        pro = professional(email="dr.one@example.test")
        care_link(pro, email="jeanne@example.test")
        req = patient_request(app.extensions["dsar_policy"], email="jeanne@example.test")
        assert routing.auto_route(req, Actor.system(), now=NOW) == routing.RoutingOutcome.ROUTED
        task = task_of(req)
        endpoint, hook_secret = webhooks.create_endpoint(url="https://127.0.0.1:9/dsar", events=None,
                                                         description=None, created_by="tests")
        names = [file_store().put(f"document {i}".encode()) for i in range(3)]
        db.session.commit()
        return {"admin": admin.id, "task": task.id, "token": routing.task_token(task), "hook": endpoint.url,
                "hook_secret": hook_secret, "files": names}


def _everything_readable(app, written) -> None:
    with app.app_context():
        assert decrypt_secret(db.session.get(Staff, written["admin"]).totp_secret) == TOTP
        task = db.session.get(ProfessionalTask, written["task"])
        assert routing.task_from_token(written["token"], now=NOW).id == task.id        # the link already sent
        assert routing.task_from_token(routing.task_token(task), now=NOW).id == task.id  # and reminders' links
        assert webhooks._secret_for(written["hook"]) == written["hook_secret"]
        assert [file_store().get(n) for n in written["files"]] == [b"document 0", b"document 1", b"document 2"]
        db.session.remove()


def test_rotation_lets_the_old_key_go_and_everything_stays_readable(make_app):
    written = _write_under_the_old_key(make_app)
    rotating = _app(make_app, [NEW, OLD])
    runner = rotating.test_cli_runner()

    check = runner.invoke(args=["rotate-keys", "--verify"])
    assert check.exit_code == 1
    assert "files: 3" in check.output and "staff.totp_secret: 1" in check.output
    assert "professional_tasks.link_secret: 1" in check.output and "webhook_endpoints.secret_encrypted: 1" in check.output

    # Interrupted after one source: what is done stays done, the rest is reported.
    part = runner.invoke(args=["rotate-keys", "--only", "staff.totp_secret"])
    assert part.exit_code == 1 and "staff.totp_secret: 1 re-encrypted" in part.output
    assert "staff.totp_secret" not in part.output.split("NOT YET", 1)[1]

    done = runner.invoke(args=["rotate-keys", "--batch-size", "1"])
    assert done.exit_code == 0, done.output
    assert "files: 3 re-encrypted" in done.output and "staff.totp_secret: 0 re-encrypted" in done.output
    assert "the other keys can be removed" in done.output
    again = runner.invoke(args=["rotate-keys"])
    assert again.exit_code == 0 and "files: 0 re-encrypted" in again.output

    _everything_readable(_app(make_app, [NEW]), written)
    old_only = _app(make_app, [OLD])
    with old_only.app_context():
        with pytest.raises(ValueError):
            decrypt_secret(db.session.get(Staff, written["admin"]).totp_secret)
        with pytest.raises(Exception, match="cannot be decrypted"):
            file_store().get(written["files"][0])
        db.session.remove()


def test_rotation_stops_with_a_clear_message_when_a_key_is_missing(make_app):
    _write_under_the_old_key(make_app)
    result = _app(make_app, [NEW]).test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 1
    assert "cannot be decrypted" in result.output and "Put the key that encrypted it back" in result.output


def test_every_column_encrypted_with_the_file_keys_is_registered(app):
    """A column whose comment says it is encrypted must carry info=ENCRYPTED_COLUMN, or rotation would skip it."""
    from dsar.keyrotation import encrypted_columns

    registered = {f"{c.table.name}.{c.name}" for c in encrypted_columns()}
    said = {f"{t.name}.{c.name}" for t in db.metadata.sorted_tables for c in t.columns
            if "encrypted with the file keys" in (c.comment or "")}
    assert said <= registered
    assert {"staff.totp_secret", "professional_tasks.link_secret", "webhook_endpoints.secret_encrypted"} <= registered


def test_break_glass_reset_of_an_admins_second_factor(app, runner):
    admin = make_staff("admin", email="boss@example.test")
    admin.totp_secret = encrypt_secret(TOTP)
    admin.totp_confirmed_at = NOW
    db.session.commit()
    epoch = admin.session_epoch or 0
    result = runner.invoke(args=["reset-second-factor", "--email", "Boss@Example.test"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    admin = db.session.get(Staff, admin.id)
    assert admin.totp_secret is None and admin.totp_confirmed_at is None and admin.session_epoch == epoch + 1
    from dsar.models import Event

    assert db.session.scalar(sa.select(Event.action).where(Event.stream == f"staff:{admin.id}")
                             .order_by(Event.seq.desc()).limit(1)) == "second_factor_reset"
    assert runner.invoke(args=["reset-second-factor", "--email", "nobody@example.test"]).exit_code == 1
