"""Helpers for the collection tests: an app with the systems file, a request opened for a subject, the pack read back."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import date

from dsar import lifecycle
from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import CollectionPack, Document, SystemRun
from dsar.models.enums import IdentityMethod, RequestType, Status, SubjectKind
from tests.appdb import SYSTEMS_FILE
from tests.factories import make_request, make_staff


def systems_app(make_app, path=SYSTEMS_FILE, **overrides):
    return make_app(DSAR_SYSTEMS=str(path), **overrides)


def open_request(policy, *, email=None, account_id=None, type=RequestType.ACCESS, subject_kind=SubjectKind.PATIENT):
    """A request whose identity is accepted now: it opens with its checklist, and its collection starts (after the commit)."""
    req = make_request(policy=policy, type=type, subject_kind=subject_kind, status=Status.IDENTITY_REVIEW,
                       email=email, external_account_id=account_id)
    staff = make_staff("dpo")
    db.session.commit()
    lifecycle.accept_identity(req, Actor.for_staff(staff), policy, method=IdentityMethod.DOCUMENT,
                              received_on=date(2026, 3, 5))
    db.session.commit()
    return req


def runs(req):
    db.session.expire_all()
    return {r.system_key: r for r in db.session.query(SystemRun).filter_by(request_id=req.id)}


def pack_doc(req) -> Document | None:
    db.session.expire_all()
    pack = db.session.query(CollectionPack).filter_by(request_id=req.id).one_or_none()
    return pack.document if pack and pack.document_id else None


def read_pack(app, doc: Document) -> zipfile.ZipFile:
    from dsar.services.documents import file_store

    data = file_store().get(doc.storage_name)
    assert hashlib.sha256(data).hexdigest() == doc.sha256
    return zipfile.ZipFile(io.BytesIO(data))


def check_manifest(zf: zipfile.ZipFile) -> dict:
    manifest = json.loads(zf.read("manifest.json"))
    names = set(zf.namelist()) - {"manifest.json"}
    assert {f["path"] for f in manifest["files"]} == names
    for f in manifest["files"]:
        data = zf.read(f["path"])
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
        assert len(data) == f["size"]
    return manifest


def events(req, action):
    from dsar.models import Event

    db.session.expire_all()
    return [e for e in db.session.query(Event).filter_by(stream=f"request:{req.id}").order_by(Event.seq)
            if e.action == action]


def run_jobs_of(app, max_jobs=None) -> int:
    """Run what is queued for ``app``: an RQ worker in burst mode (PostgreSQL pass), or nothing (in-process)."""
    backend = app.extensions["dsar_jobs"]
    if backend.name != "rq":
        return 0
    from rq import SimpleWorker

    w = SimpleWorker([backend.queue()], connection=backend.redis)
    w.work(burst=True, max_jobs=max_jobs, with_scheduler=False)
    return w.successful_job_count + w.failed_job_count
