"""A sample "IDOMED application" database: the schema the systems map describes, and demo people.

It stands for the real application that holds patients' and professionals' data
(policy art. 4–7). The test suite builds the same schema (``tests/appdb.py``) in a
private PostgreSQL database or a SQLite file; ``dsar demo`` builds it with the demo
people in ``instance/demo-app.sqlite3`` and writes a systems file pointing at it,
so that ``make run`` collects a request automatically end to end.

This is not dsar's own schema (that one comes from the migrations only): the
tables are created here one by one because the database belongs to "another
application".
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

APP_METADATA = sa.MetaData()
_T = sa.Table
_C = sa.Column

accounts = _T(
    "accounts", APP_METADATA,
    _C("id", sa.Integer, primary_key=True),
    _C("external_id", sa.String(64), unique=True, nullable=False),
    _C("email", sa.String(254), nullable=False),
    _C("mobile", sa.String(32)),
    _C("first_name", sa.String(120)),
    _C("last_name", sa.String(120)),
    _C("kind", sa.String(16), nullable=False),
    _C("password_hash", sa.String(128)),
    _C("created_at", sa.DateTime, nullable=False),
    _C("restricted", sa.Boolean, nullable=False, default=False),
    _C("deactivated_at", sa.DateTime),
)
professionals = _T(
    "professionals", APP_METADATA,
    _C("id", sa.Integer, primary_key=True),
    _C("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    _C("rpps", sa.String(11)),
    _C("specialty", sa.String(120)),
    _C("practice_address", sa.String(300)),
    _C("subscription_status", sa.String(16)),
    _C("created_at", sa.DateTime, nullable=False),
)
patients = _T(
    "patients", APP_METADATA,
    _C("id", sa.Integer, primary_key=True),
    _C("account_id", sa.Integer, sa.ForeignKey("accounts.id")),
    _C("birth_date", sa.Date),
    _C("created_at", sa.DateTime, nullable=False),
    _C("archived_at", sa.DateTime),
)
care_links = _T(
    "care_links", APP_METADATA,
    _C("id", sa.Integer, primary_key=True),
    _C("patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False),
    _C("professional_id", sa.Integer, sa.ForeignKey("professionals.id"), nullable=False),
    _C("started_at", sa.DateTime, nullable=False),
    _C("ended_at", sa.DateTime),
)
conversations = _T(
    "conversations", APP_METADATA,
    _C("id", sa.Integer, primary_key=True),
    _C("patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False),
    _C("professional_id", sa.Integer, sa.ForeignKey("professionals.id"), nullable=False),
    _C("subject", sa.String(200)),
    _C("created_at", sa.DateTime, nullable=False),
)
conversation_members = _T(
    "conversation_members", APP_METADATA,
    _C("id", sa.Integer, primary_key=True),
    _C("conversation_id", sa.Integer, sa.ForeignKey("conversations.id"), nullable=False),
    _C("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    _C("role", sa.String(16), nullable=False),
    _C("joined_at", sa.DateTime, nullable=False),
)
messages = _T(
    "messages", APP_METADATA,
    _C("id", sa.Integer, primary_key=True),
    _C("conversation_id", sa.Integer, sa.ForeignKey("conversations.id"), nullable=False),
    _C("sender_account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    _C("body", sa.Text, nullable=False),
    _C("sent_at", sa.DateTime, nullable=False),
    _C("read_at", sa.DateTime),
)
documents = _T(
    "documents", APP_METADATA,
    _C("id", sa.Integer, primary_key=True),
    _C("conversation_id", sa.Integer, sa.ForeignKey("conversations.id"), nullable=False),
    _C("filename", sa.String(200), nullable=False),
    _C("mime_type", sa.String(100), nullable=False),
    _C("content", sa.LargeBinary, nullable=False),
    _C("uploaded_at", sa.DateTime, nullable=False),
)
connection_logs = _T(
    "connection_logs", APP_METADATA,
    _C("id", sa.Integer, primary_key=True),
    _C("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    _C("ip_address", sa.String(45)),
    _C("user_agent", sa.String(300)),
    _C("logged_at", sa.DateTime, nullable=False),
)
devices = _T(
    "devices", APP_METADATA,
    _C("id", sa.Integer, primary_key=True),
    _C("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    _C("platform", sa.String(16)),
    _C("model", sa.String(120)),
    _C("push_token", sa.String(200)),
    _C("last_seen_at", sa.DateTime),
)
invoices = _T(
    "invoices", APP_METADATA,
    _C("id", sa.Integer, primary_key=True),
    _C("professional_id", sa.Integer, sa.ForeignKey("professionals.id"), nullable=False),
    _C("number", sa.String(32), nullable=False),
    _C("amount_cents", sa.Integer, nullable=False),
    _C("status", sa.String(16), nullable=False),
    _C("issued_at", sa.DateTime, nullable=False),
    _C("paid_at", sa.DateTime),
)
marketing_contacts = _T(
    "marketing_contacts", APP_METADATA,
    _C("id", sa.Integer, primary_key=True),
    _C("email", sa.String(254), nullable=False),
    _C("first_name", sa.String(120)),
    _C("last_name", sa.String(120)),
    _C("company", sa.String(200)),
    _C("consent", sa.Boolean, nullable=False, default=False),
    _C("created_at", sa.DateTime, nullable=False),
)

BASE = datetime(2026, 3, 2, 9, 0, 0)


def create_schema(engine: sa.Engine) -> None:
    """Create the application's tables (they are "another application's": not dsar's migrations)."""
    with engine.begin() as conn:
        for table in APP_METADATA.sorted_tables:
            table.create(bind=conn, checkfirst=True)


def _pdf(label: str) -> bytes:
    """A small, well-formed one-page PDF (no active content) standing for a shared document."""
    text = label.encode("ascii", "replace")
    stream = b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def seed(engine: sa.Engine, people: dict) -> dict:
    """Insert ``people`` and return the ids given: {"accounts": {external_id: id}, "patients": …, "professionals": …}.

    ``people`` = {"professionals": [{external_id, email, mobile, first_name, last_name, rpps}],
    "patients": [{external_id, email, mobile, first_name, last_name, birth_date}],
    "care": [(patient external_id, professional external_id, [message bodies], [document names])],
    "prospects": [{email, first_name, last_name, company}]}.
    """
    ids: dict = {"accounts": {}, "patients": {}, "professionals": {}, "conversations": []}
    with engine.begin() as conn:
        def account(p, kind, n):
            res = conn.execute(accounts.insert().values(
                external_id=p["external_id"], email=p["email"], mobile=p.get("mobile"),
                first_name=p["first_name"], last_name=p["last_name"], kind=kind,
                password_hash=hashlib.sha256(p["external_id"].encode()).hexdigest(),
                created_at=BASE + timedelta(days=n), restricted=False))
            aid = res.inserted_primary_key[0]
            ids["accounts"][p["external_id"]] = aid
            conn.execute(connection_logs.insert(), [
                {"account_id": aid, "ip_address": f"192.0.2.{(n * 7 + k) % 250 + 1}",
                 "user_agent": f"Idomed/{k} ({kind})", "logged_at": BASE + timedelta(days=n, hours=k)}
                for k in range(3)])
            conn.execute(devices.insert().values(
                account_id=aid, platform="ios" if n % 2 else "android", model=f"Phone {n}",
                push_token=f"push-{p['external_id']}", last_seen_at=BASE + timedelta(days=n + 1)))
            return aid

        for n, p in enumerate(people.get("professionals", [])):
            aid = account(p, "professional", n)
            pid = conn.execute(professionals.insert().values(
                account_id=aid, rpps=p.get("rpps"), specialty=p.get("specialty", "Médecine générale"),
                practice_address=p.get("practice_address", f"{n + 1} rue de la Santé, Paris"),
                subscription_status="active", created_at=BASE + timedelta(days=n))).inserted_primary_key[0]
            ids["professionals"][p["external_id"]] = pid
            conn.execute(invoices.insert(), [
                {"professional_id": pid, "number": f"F-{pid:03d}-{k}", "amount_cents": 4900 + k,
                 "status": "paid" if k else "open", "issued_at": BASE + timedelta(days=30 * k),
                 "paid_at": BASE + timedelta(days=30 * k + 3) if k else None} for k in range(2)])
        for n, p in enumerate(people.get("patients", []), start=10):
            aid = account(p, "patient", n)
            pid = conn.execute(patients.insert().values(
                account_id=aid, birth_date=p.get("birth_date"),
                created_at=BASE + timedelta(days=n))).inserted_primary_key[0]
            ids["patients"][p["external_id"]] = pid
        for n, (pat, pro, bodies, docs) in enumerate(people.get("care", [])):
            pat_id, pro_id = ids["patients"][pat], ids["professionals"][pro]
            pat_acc, pro_acc = ids["accounts"][pat], ids["accounts"][pro]
            conn.execute(care_links.insert().values(
                patient_id=pat_id, professional_id=pro_id, started_at=BASE + timedelta(days=n)))
            cid = conn.execute(conversations.insert().values(
                patient_id=pat_id, professional_id=pro_id, subject=f"Suivi {n + 1}",
                created_at=BASE + timedelta(days=n))).inserted_primary_key[0]
            ids["conversations"].append(cid)
            conn.execute(conversation_members.insert(), [
                {"conversation_id": cid, "account_id": pat_acc, "role": "patient", "joined_at": BASE},
                {"conversation_id": cid, "account_id": pro_acc, "role": "professional", "joined_at": BASE}])
            if bodies:
                conn.execute(messages.insert(), [
                    {"conversation_id": cid, "sender_account_id": pat_acc if k % 2 == 0 else pro_acc,
                     "body": body, "sent_at": BASE + timedelta(days=n, minutes=k)} for k, body in enumerate(bodies)])
            if docs:
                conn.execute(documents.insert(), [
                    {"conversation_id": cid, "filename": name, "mime_type": "application/pdf",
                     "content": _pdf(f"{name} - conversation {cid}"), "uploaded_at": BASE + timedelta(days=n)}
                    for name in docs])
        if people.get("prospects"):
            conn.execute(marketing_contacts.insert(), [
                dict(p, consent=True, created_at=BASE) for p in people["prospects"]])
    return ids


DEMO_PEOPLE = {
    "professionals": [
        {"external_id": "demo-pro-1", "email": "dr.bernard@demo.test", "mobile": "+33600000001",
         "first_name": "Claire", "last_name": "Bernard", "rpps": "10000000009"},
        {"external_id": "demo-pro-2", "email": "dr.lefevre@demo.test", "mobile": "+33600000002",
         "first_name": "Hugo", "last_name": "Lefevre", "rpps": "10000000017"},
    ],
    "patients": [
        {"external_id": "demo-patient-1", "email": "lea.martin@demo.test", "mobile": "+33611111111",
         "first_name": "Léa", "last_name": "Martin"},
        {"external_id": "demo-patient-2", "email": "paul.petit@demo.test", "mobile": "+33622222222",
         "first_name": "Paul", "last_name": "Petit"},
    ],
    "care": [
        ("demo-patient-1", "demo-pro-1", ["Bonjour docteur, mes résultats ?", "Tout est normal.",
                                          "Merci !"], ["analyses.pdf"]),
        ("demo-patient-2", "demo-pro-1", ["Rendez-vous mardi ?", "Oui, 10 h."], []),
        ("demo-patient-2", "demo-pro-2", ["Ordonnance renouvelée ?", "Envoyée."], ["ordonnance.pdf"]),
    ],
    "prospects": [{"email": "prospect@demo.test", "first_name": "Pia", "last_name": "Prospect",
                   "company": "Cabinet Prospect"}],
}


def build_demo_appdb(instance_path: Path) -> str:
    """Create (again) ``instance/demo-app.sqlite3`` with the demo people; return its URL."""
    path = Path(instance_path) / "demo-app.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    try:
        create_schema(engine)
        seed(engine, DEMO_PEOPLE)
    finally:
        engine.dispose()
    return url
