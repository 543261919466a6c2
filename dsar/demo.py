"""Demo data for `make run`: staff accounts, professionals, patients and their links, requests at various stages.

Everything goes through the same services as real use (intake, actions, routing,
the encrypted file store), so the demo's audit trails verify and its emails are
the real ones. Development only: the passwords and TOTP secrets are printed.
"""
from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from . import audit
from .actors import Actor
from .extensions import db
from .models import DataRequest, Staff, utcnow
from .models.enums import ActorType
from .demo_appdb import build_demo_appdb
from .policy_warnings import letter_blockers
from .security import encrypt_secret, hash_password
from .services import actions, directory, intake

DEMO_PASSWORD = "demo-password-2026"
# Fixed base32 secrets so that a person trying the service can add them to an authenticator app.
DEMO_TOTP = {"admin@demo.test": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "dpo@demo.test": "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"}
STAFF = [
    ("admin@demo.test", "Ada Admin", "admin"),
    ("dpo@demo.test", "Dominique Delegue", "dpo"),
    ("agent@demo.test", "Agathe Agent", "agent"),
    ("auditor@demo.test", "Auguste Auditeur", "auditor"),
]
PROFESSIONALS = [
    {"external_id": "demo-pro-1", "first_name": "Claire", "last_name": "Bernard", "email": "dr.bernard@demo.test",
     "rpps": "10000000009", "language": "fr"},
    {"external_id": "demo-pro-2", "first_name": "Hugo", "last_name": "Lefevre", "email": "dr.lefevre@demo.test",
     "rpps": "10000000017", "language": "en"},
    {"external_id": "demo-pro-3", "first_name": "Marc", "last_name": "Girard", "email": "dr.girard@demo.test",
     "rpps": "10000000025", "language": "fr", "contract_ended_on": "2026-01-31", "active": "false"},
]
CARE_LINKS = [
    {"professional_external_id": "demo-pro-1", "patient_ref": "demo-patient-1", "patient_email": "lea.martin@demo.test",
     "patient_birth_date": "1985-04-12"},
    {"professional_external_id": "demo-pro-1", "patient_ref": "demo-patient-2", "patient_email": "paul.petit@demo.test"},
    {"professional_external_id": "demo-pro-2", "patient_ref": "demo-patient-2", "patient_email": "paul.petit@demo.test"},
    {"professional_external_id": "demo-pro-3", "patient_ref": "demo-patient-3", "patient_email": "ines.roux@demo.test"},
]


def _subject(first, last, email, kind="patient", **extra):
    return dict({"kind": kind, "first_name": first, "last_name": last, "email": email}, **extra)


def _sample_identity_pdf() -> bytes:
    """A one-page PDF standing for an identity document (rendered, not a real document)."""
    from weasyprint import HTML

    html = ("<html><body style='font-family: DejaVu Sans'><h1>SPECIMEN</h1>"
            "<p>Carte nationale d'identité — document de démonstration, sans valeur.</p></body></html>")
    return HTML(string=html).write_pdf()


def load_demo(*, if_empty: bool = False) -> str:
    if current_app.config["DSAR_ENV"] == "production":
        raise RuntimeError("demo data is for development only")
    if if_empty and db.session.scalar(sa.select(sa.func.count()).select_from(Staff)):
        return "Demo data already loaded (nothing done).\n" + _logins()

    # The sample "IDOMED application" the systems file maps (issue 16): rebuilt, so that the requests below
    # that open are collected from it automatically (make run sets DSAR_SYSTEMS and DSAR_APP_DB_*_URL).
    build_demo_appdb(Path(current_app.instance_path))
    now = utcnow()
    staff = {}
    for email, name, role in STAFF:
        s = Staff(email=email, name=name, role=role, password_hash=hash_password(DEMO_PASSWORD), language="fr")
        if email in DEMO_TOTP:
            s.totp_secret = encrypt_secret(DEMO_TOTP[email])
            s.totp_confirmed_at = now
        db.session.add(s)
        staff[role] = s
    db.session.flush()
    directory.upsert_professionals(PROFESSIONALS)
    directory.upsert_care_links(CARE_LINKS)
    db.session.commit()

    system = Actor.system("demo")
    # The IDOMED application submits through the API with a key that may log a receipt date.
    app_key = Actor(ActorType.API, "demo", "IDOMED application (demo)", scopes=frozenset({"submit", "staff"}))
    dpo = Actor.for_staff(staff["dpo"])
    agent = Actor.for_staff(staff["agent"])

    def submit(days_ago: int, type_: str, subject: dict, channel: str, **kw) -> DataRequest:
        received = now - timedelta(days=days_ago)
        actor = kw.pop("actor", dpo if channel != "web" else system)
        req = intake.submit_request(type=type_, subject=subject, requester=kw.pop("requester", None), channel=channel,
                                    received_at=received if actor.is_staff_like else None, actor=actor, **kw)
        if channel == "web":
            req.received_at = received
        db.session.commit()
        return req

    # 1. Web request, email not confirmed yet.
    submit(1, "access", _subject("Nina", "Moreau", "nina.moreau@demo.test", kind="prospect"), "web",
           details="Je voudrais savoir quelles données vous avez sur moi.")
    # 2. Letter logged by staff, waiting for an identity document.
    submit(3, "erasure", _subject("Julien", "Fabre", "julien.fabre@demo.test", kind="professional"), "post",
           details="Merci d'effacer mon compte professionnel.")
    # 3. Identity document uploaded, waiting for review.
    req = submit(2, "rectification", _subject("Sophie", "Garnier", "sophie.garnier@demo.test", kind="professional"),
                 "email", details="Mon adresse d'exercice est erronée.")
    intake.add_identity_document(req, "identity", io.BytesIO(_sample_identity_pdf()), "carte-identite.pdf",
                                 "application/pdf", Actor.for_requester(req))
    db.session.commit()
    # 4. A patient's request from the application: verified, routed to their professional (policy art. 8.2).
    submit(6, "access", _subject("Léa", "Martin", "lea.martin@demo.test", birth_date="1985-04-12"), "account",
           actor=app_key, details="Accès à mon dossier.",
           external_account_id="demo-patient-1")
    # 5. A patient with two professionals: staff must choose.
    submit(4, "portability", _subject("Paul", "Petit", "paul.petit@demo.test"), "account",
           actor=app_key, external_account_id="demo-patient-2")
    # 6. In progress with an agent, clarification asked about the scope (the clock keeps running, GDPR art. 12(3)).
    req = submit(12, "objection", _subject("Marie", "Lambert", "marie.lambert@demo.test", kind="prospect"), "phone",
                 identity_method="in_person", details="Je ne veux plus recevoir la newsletter.")
    actions.assign(req, dpo, assignee_id=staff["agent"].id)
    actions.ask_clarification(req, agent, question="Quelle adresse e-mail reçoit la newsletter ?")
    db.session.commit()
    # 7. Overdue: received 40 days ago, still open.
    submit(40, "restriction", _subject("Thomas", "Robin", "thomas.robin@demo.test", kind="professional"), "email",
           identity_method="in_person")
    # Letters wait for the policy's contradictions to be fixed (dsar/policy_warnings.py): without them the
    # demo stops before the steps that send one (an extension, an answer) and says why.
    blockers = letter_blockers(current_app.extensions["dsar_policy"])
    if blockers:
        audit.record(system, "demo_loaded", stream="system", details={"requests": 7})
        db.session.commit()
        return _summary() + "\n" + (
            "Requests 8 and 9 (an extension, an answer) were not created: no letter can go out until the DPO fixes "
            "the policy file (see the warnings on the back-office queue page): "
            + ", ".join(w.key for w in blockers))
    # 8. Extended with a reason.
    req = submit(20, "access", _subject("Camille", "Blanc", "camille.blanc@demo.test", kind="professional"), "post",
                 identity_method="in_person")
    actions.extend(req, dpo, reason="Données réparties entre l'application et le fichier clients ; recherche en cours.")
    db.session.commit()
    # 9. Answered, then closed.
    req = submit(25, "objection", _subject("Louis", "Mercier", "louis.mercier@demo.test", kind="prospect"), "email",
                 identity_method="in_person")
    for step in list(req.steps):  # the checklist of an objection (GDPR art. 21, 21(3)), done before the answer
        actions.complete_step(req, dpo, step_id=step.id, note="Fait (démo).")
    actions.answer(req, dpo, outcome="granted", message="Vous ne recevrez plus nos communications commerciales.")
    db.session.commit()
    actions.close(req, dpo)
    db.session.commit()

    audit.record(system, "demo_loaded", stream="system", details={"requests": 9})
    db.session.commit()
    return _summary()


def _summary() -> str:
    return "Demo data loaded.\n" + _logins()


# The hint works as printed from the project directory, in any shell (no activated venv, no DSAR_ENV set).
TOTP_HINT = "DSAR_ENV=development .venv/bin/dsar demo-totp {email}"


def _logins() -> str:
    """The demo staff logins, printed on every `make run` (they are demo accounts, also listed in the README)."""
    lines = [f"Staff accounts (password for all: {DEMO_PASSWORD}):"]
    for email, _, role in STAFF:
        extra = (f" — TOTP secret {DEMO_TOTP[email]} (current code: {TOTP_HINT.format(email=email)})"
                 if email in DEMO_TOTP else "")
        lines.append(f"  {role:8} {email}{extra}")
    return "\n".join(lines)


def current_totp(email: str) -> str:
    import pyotp

    if email not in DEMO_TOTP:
        raise KeyError(f"{email} has no demo TOTP secret")
    return pyotp.TOTP(DEMO_TOTP[email]).now()
