"""Backup and restore as the README says (issue 14): the database (pg_dump), the file store (tar) and the keys.

Restored into an empty database and an empty file store, a delivered answer still downloads (same bytes, same
hash as when it was sent) and the audit trail verifies.
"""
import hashlib
import re
import shutil
import subprocess
import tarfile

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from dsar.extensions import db
from dsar.services import actions
from dsar.tokens import status_token
from fulfilment_support import add_answer_files, new_request, staff_actor

pytestmark = [pytest.mark.postgres]

LINK = re.compile(r"http://localhost(/download/[A-Za-z0-9_.\-]+)")
# What the backup must keep besides the data: the keys (README, "Backup and restore").
KEYS = {"SECRET_KEY": "a-production-secret-key-kept-with-the-backup-0123456789",
        "DSAR_FILE_KEYS": [Fernet.generate_key().decode()]}


def _libpq(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_a_backup_restored_into_an_empty_database_and_file_store_still_serves_the_answer(
        make_app, mailbox, run_jobs, fresh_database_url, tmp_path):
    from dsar.audit import verify_chain

    app = make_app(**KEYS)
    with app.app_context():
        policy = app.extensions["dsar_policy"]
        _, actor = staff_actor()
        req = new_request(policy, type="access")
        add_answer_files(req, actor, policy)
        token = status_token(req)
        actions.answer(req, actor, outcome="granted", message="Voici vos données.")
        db.session.commit()
        run_jobs()
        mail = next(m for m in mailbox.wait_for(1) if m["To"] == req.requester.email)
        path = LINK.search(mailbox.text(mail)).group(1)
        files = list(req.download_links[0].files)
        reference = req.reference
        db.session.remove()

    # Backup: the database in pg_dump's custom format, the file store as a tar of ciphertext.
    dump, archive = tmp_path / "dsar.dump", tmp_path / "files.tar.gz"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", str(dump),
                    _libpq(app.config["SQLALCHEMY_DATABASE_URI"])], check=True, timeout=120)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(app.config["DSAR_FILES_DIR"], arcname="files")

    # Restore: an empty database, an empty file store.
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname", _libpq(fresh_database_url), str(dump)],
                   check=True, timeout=120)
    restored_root = tmp_path / "restored"
    with tarfile.open(archive) as tar:
        tar.extractall(restored_root, filter="data")
    shutil.rmtree(app.config["DSAR_FILES_DIR"])        # the original store is gone: only the restored one serves
    restored = make_app(SQLALCHEMY_DATABASE_URI=fresh_database_url, DSAR_FILES_DIR=str(restored_root / "files"), **KEYS)

    with restored.app_context():
        assert verify_chain() == []
        client = restored.test_client()
        unlocked = client.post(path, data={"status_link": f"http://localhost/status/{token}"})
        assert unlocked.status_code == 303
        for entry in files:
            got = client.get(f"{path}/{entry['document_id']}")
            assert got.status_code == 200, got.get_data(as_text=True)[:300]
            assert hashlib.sha256(got.data).hexdigest() == entry["sha256"]
        status_page = client.get(f"/status/{token}")
        assert status_page.status_code == 200 and reference in status_page.get_data(as_text=True)
        db.session.remove()
        db.engine.dispose()
