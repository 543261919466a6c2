"""Helpers shared by the fulfilment tests (letters, packs, downloads): real services, real files, real PDFs."""
from __future__ import annotations

import io
import re
import zipfile

from pypdf import PdfReader

from dsar.actors import Actor
from dsar.extensions import db
from dsar.models.enums import DocumentKind
from factories import make_request, make_staff
from hostile_files import valid_jpeg, valid_pdf


def staff_actor(role: str = "dpo"):
    staff = make_staff(role)
    return staff, Actor.for_staff(staff, ip="127.0.0.1", user_agent="pytest")


def pdf_text(data: bytes) -> str:
    """The text of a PDF as pypdf extracts it, whitespace folded, so that a test reads what a person reads."""
    reader = PdfReader(io.BytesIO(data))
    text = " ".join(page.extract_text() or "" for page in reader.pages)
    return re.sub(r"\s+", " ", text)


def pdf_pages(data: bytes) -> int:
    return len(PdfReader(io.BytesIO(data)).pages)


def add_answer_files(req, actor, policy, files=None):
    """Files gathered for an access answer, uploaded through the documents service (checked like any upload)."""
    from dsar.services.documents import store_document

    files = files or [("dossier patient.pdf", valid_pdf(), "application/pdf"), ("photo.jpg", valid_jpeg(), "image/jpeg")]
    docs = []
    for name, data, mime in files:
        docs.append(store_document(req, DocumentKind.ANSWER, io.BytesIO(data), filename=name, declared_type=mime,
                                   actor=actor, policy=policy))
    return docs


def read_stored(doc) -> bytes:
    from dsar.services.documents import read_document

    return read_document(doc)


def open_zip(data: bytes) -> zipfile.ZipFile:
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert zf.testzip() is None
    return zf


def new_request(policy, **kw):
    req = make_request(policy=policy, **kw)
    db.session.flush()
    return req
