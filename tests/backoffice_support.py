"""Helpers for the back-office tests: staff with a known TOTP secret, signing in through the real forms."""
from __future__ import annotations

import io
import time

import pyotp
from PIL import Image

from dsar.extensions import db
from dsar.models import Document, utcnow
from dsar.security import encrypt_secret
from factories import PASSWORD, make_staff

ROLES = ("admin", "dpo", "agent", "auditor")


def staff_with_totp(role: str, **kw):
    """A staff member; admin and DPO get a confirmed TOTP secret (returned, to compute codes)."""
    secret = None
    if role in ("admin", "dpo"):
        secret = pyotp.random_base32()
        kw.setdefault("totp_secret", encrypt_secret(secret))
        kw.setdefault("totp_confirmed_at", utcnow())
    staff = make_staff(role, **kw)
    return staff, secret


def totp_code(secret: str, *, offset_steps: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(time.time() + offset_steps * totp.interval)


def sign_in(client, staff, secret: str | None = None, *, password: str = PASSWORD):
    """Sign in through the forms; returns the last response (a redirect to the queue when it worked)."""
    r = client.post("/backoffice/login", data={"email": staff.email, "password": password})
    if secret is not None:
        assert r.status_code == 302 and r.headers["Location"].endswith("/backoffice/login/code"), (r.status_code, r.headers.get("Location"))
        r = client.post("/backoffice/login/code", data={"code": totp_code(secret)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/backoffice/"), (r.status_code, r.headers.get("Location"))
    return r


def signed_in_client(app, role: str, **kw):
    staff, secret = staff_with_totp(role, **kw)
    db.session.commit()
    client = app.test_client()
    sign_in(client, staff, secret)
    return client, staff


def png_bytes(color=(200, 30, 30), size=(64, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def add_identity_document(req, policy, *, data: bytes | None = None, actor=None) -> Document:
    """Store a real PNG as the request's identity document, through the documents service."""
    from dsar.actors import Actor
    from dsar.models.enums import DocumentKind
    from dsar.services.documents import store_document

    return store_document(req, DocumentKind.IDENTITY, io.BytesIO(data or png_bytes()), filename="carte-identite.png",
                          declared_type="image/png", actor=actor or Actor.system("requester"), policy=policy)


def browser_sign_in(page, base: str, email: str, secret: str) -> None:
    """Chromium: sign in with the password, then the TOTP code, and land on the queue."""
    import re

    page.goto(f"{base}/backoffice/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/backoffice/login/code$"))
    page.fill("#code", totp_code(secret))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/backoffice/$"))
