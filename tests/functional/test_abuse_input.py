"""Hostile input (issue 9): CSRF, script injection, email header injection, oversized bodies, rate limits.

- CSRF: with Flask-WTF's protection on (as in production), every POST form of the app — walked from
  ``app.url_map``, the JSON API excepted (bearer keys, no cookies) — refuses a post without its token or
  with the token of another session, in the user's language, and changes nothing.
- Script injection: ``<script>alert(1)</script>`` and ``"><img src=x onerror=alert(1)>`` typed into every
  free-text field (names, postal address, details, clarification question and answer, notes, reasons,
  the professional's messages, a professional's name from the directory) come out escaped in the
  back-office, the task page, the status page and the HTML part of the emails, and as plain text in the
  PDF letters (WeasyPrint would otherwise have laid them out as markup and dropped them).
- Header injection: CR/LF in an email address is refused wherever an address is typed; in a name it is
  neutralised, and every email goes to exactly one envelope recipient.
- Oversized bodies: 413, with a message, never a 500 and nothing written.
- Rate limits hold: per client on the forms and the sign-in, per key on the API, per link on the task
  actions; a spoofed X-Forwarded-For does not reset them; with Redis, two workers share them.
"""
from __future__ import annotations

import email
import http.client
import io
import re
import socket
import threading
import time
from email import policy as email_policy

import pytest
import sqlalchemy as sa
from markupsafe import escape
from werkzeug.serving import make_server

from api_support import account_request_body, bearer, make_key
from backoffice_support import add_identity_document, signed_in_client, staff_with_totp, totp_code
from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import DataRequest, Document, Event, OutboxMessage, utcnow
from dsar.models.enums import Status
from dsar.services import fulfilment, intake, notifications, routing
from dsar.tokens import status_token
from factories import PASSWORD, make_professional, make_request
from fulfilment_support import pdf_text, read_stored
from hostile_files import valid_jpeg, valid_pdf
from public_support import FORM, csrf_token, web_request
from routing_support import answer_task_page

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def payload(tag: str) -> str:
    """A field's hostile value, tagged so that a test can tell which field it finds."""
    return f"{tag} {SCRIPT} {IMG}"


def assert_no_markup_injected(html: str, where: str) -> None:
    assert "<script>alert(1)" not in html, where
    assert "<img src=x" not in html, where
    assert "onerror=alert(1)>" not in html.replace("onerror=alert(1)&gt;", ""), where


def assert_shown_escaped(html: str, tag: str, where: str) -> None:
    assert_no_markup_injected(html, where)
    assert str(escape(payload(tag))) in html, f"{where}: {tag} is not shown (escaped)"


def assert_pdf_shows(data: bytes, tag: str, where: str) -> None:
    text = pdf_text(data)
    assert re.sub(r"\s+", " ", payload(tag)) in text, f"{where}: {tag} is not shown as text"


def letters_of(req) -> dict[str, bytes]:
    """The letters kept for a request, by the kind named in their audit event."""
    out = {}
    for ev in db.session.scalars(sa.select(Event).where(Event.request_id == req.id, Event.action == "letter_produced")):
        doc = db.session.get(Document, ev.details["document_id"])
        out[ev.details["kind"]] = read_stored(doc)
    return out


def bo_action(client, req, form: str, files=None, **fields):
    db.session.refresh(req)
    data = {"version": str(req.version), **fields}
    if files:
        data["files"] = files
    return client.post(f"/backoffice/requests/{req.reference}/actions/{form}", data=data,
                       content_type="multipart/form-data" if files else None)


def html_of_sent_emails(mailbox, run_jobs) -> list[tuple[str, str]]:
    run_jobs()
    return [(m["Subject"], mailbox.html(m)) for m in mailbox.messages]


# =====================================================================================================
# Script injection
# =====================================================================================================


def test_what_staff_and_the_requester_type_is_escaped_everywhere_it_is_shown(app, policy, mailbox, run_jobs):
    dpo, _ = signed_in_client(app, "dpo")
    # A letter received by post, logged by staff: a representative with a postal address (policy art. 8.1).
    r = dpo.post("/backoffice/requests/new", data={
        "channel": "post", "received_on": utcnow().date().isoformat(), "type": "access", "language": "fr",
        "subject.kind": "prospect", "subject.first_name": payload("subject-first"),
        "subject.last_name": payload("subject-last"), "subject.email": "subject@example.test",
        "acting_for": "other", "requester.relationship": "mandatary",
        "requester.first_name": payload("requester-first"), "requester.last_name": payload("requester-last"),
        "requester.email": "mandatary@example.test", "requester.postal_address": payload("postal-address"),
        "details": payload("details"), "identity_in_person": "1",
    })
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    req = db.session.scalar(sa.select(DataRequest).order_by(DataRequest.id.desc()))
    assert req.status == Status.OPEN

    assert bo_action(dpo, req, "note", note=payload("note")).status_code == 302
    assert bo_action(dpo, req, "clarify", question=payload("question")).status_code == 302
    r = dpo.post(f"/backoffice/requests/{req.reference}/fulfilment/letters", data={"kind": "clarification"})
    assert r.status_code == 303, r.status_code

    token = status_token(req)
    db.session.commit()
    requester = app.test_client()
    page = requester.get(f"/status/{token}").get_data(as_text=True)
    assert_shown_escaped(page, "question", "status page")
    r = requester.post(f"/status/{token}/clarification", data={"answer": payload("clarification-answer"),
                                                              "version": str(req.version)})
    assert r.status_code == 303, r.get_data(as_text=True)[:2000]

    assert bo_action(dpo, req, "extend", reason=payload("extension-reason")).status_code == 302
    page = requester.get(f"/status/{token}").get_data(as_text=True)
    assert_shown_escaped(page, "extension-reason", "status page (extension)")
    # The checklist of the policy's steps (issue 13, item 4) is ticked, with a note that is free text too.
    for step in list(req.steps):
        assert bo_action(dpo, req, "complete_step", step_id=str(step.id), note=payload("step-note")).status_code == 302
    pdf = ("dossier.pdf", valid_pdf(), "application/pdf")
    r = bo_action(dpo, req, "answer", files=[(io.BytesIO(pdf[1]), pdf[0], pdf[2])], outcome="partly_granted",
                  message=payload("answer-message"), reasons=payload("answer-reasons"))
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]

    # The back-office request page and the queue.
    page = dpo.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    for tag in ("subject-first", "subject-last", "requester-first", "requester-last", "postal-address", "details",
                "note", "question", "clarification-answer", "extension-reason", "answer-message", "answer-reasons",
                "step-note"):
        assert_shown_escaped(page, tag, f"back-office request page ({tag})")
    queue = dpo.get("/backoffice/?status=answered").get_data(as_text=True)
    assert_shown_escaped(queue, "subject-last", "back-office queue")
    # The requester's status page.
    page = requester.get(f"/status/{token}").get_data(as_text=True)
    for tag in ("answer-message", "answer-reasons"):
        assert_shown_escaped(page, tag, f"status page ({tag})")

    # The letters: the text shows as text.
    letters = letters_of(req)
    assert {"clarification", "extension", "answer_access"} <= set(letters)
    assert_pdf_shows(letters["clarification"], "question", "clarification letter")
    assert_pdf_shows(letters["extension"], "extension-reason", "extension letter")
    for tag in ("answer-message", "answer-reasons", "requester-first", "requester-last", "postal-address"):
        assert_pdf_shows(letters["answer_access"], tag, f"answer letter ({tag})")

    # The emails (HTML part): nothing injected; the question and the extension reason shown escaped.
    sent = html_of_sent_emails(mailbox, run_jobs)
    assert len(sent) >= 4
    for subject, html in sent:
        assert_no_markup_injected(html, f"email {subject}")
        assert "<script" not in subject and "<img" not in subject
    by_template = {m.template: m.body_html for m in db.session.scalars(sa.select(OutboxMessage))}
    assert_shown_escaped(by_template["clarification_asked"], "question", "clarification email")
    assert_shown_escaped(by_template["extension_notice"], "extension-reason", "extension email")


def test_a_refusal_and_a_refused_document_are_escaped_in_pages_emails_and_letters(app, policy, mailbox, run_jobs):
    dpo, _ = signed_in_client(app, "dpo")
    req, token = web_request(subject={"kind": "prospect", "first_name": payload("web-first"),
                                      "last_name": payload("web-last"), "email": "web@example.test"},
                             details=payload("web-details"))
    intake.add_identity_document(req, "identity", io.BytesIO(valid_jpeg()), "cni.jpg", "image/jpeg",
                                 Actor.for_requester(req))
    db.session.commit()
    assert req.status == Status.IDENTITY_REVIEW
    assert bo_action(dpo, req, "refuse_identity", reason=payload("identity-reason")).status_code == 302
    r = dpo.post(f"/backoffice/requests/{req.reference}/fulfilment/letters", data={"kind": "identity_requested"})
    assert r.status_code == 303
    page = app.test_client().get(f"/status/{token}").get_data(as_text=True)
    assert_shown_escaped(page, "identity-reason", "status page (refused document)")
    assert bo_action(dpo, req, "refuse", reasons=payload("refusal-reasons")).status_code == 302

    page = dpo.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    for tag in ("web-first", "web-last", "web-details", "identity-reason", "refusal-reasons"):
        assert_shown_escaped(page, tag, f"back-office ({tag})")
    page = app.test_client().get(f"/status/{token}").get_data(as_text=True)
    assert_shown_escaped(page, "refusal-reasons", "status page (refusal)")
    letters = letters_of(req)
    assert_pdf_shows(letters["identity_requested"], "identity-reason", "identity letter")
    assert_pdf_shows(letters["refusal"], "refusal-reasons", "refusal letter")
    assert_pdf_shows(letters["refusal"], "web-first", "refusal letter (name)")
    for subject, html in html_of_sent_emails(mailbox, run_jobs):
        assert_no_markup_injected(html, f"email {subject}")
    by_template = {m.template: m.body_html for m in db.session.scalars(sa.select(OutboxMessage))}
    assert_shown_escaped(by_template["identity_refused"], "identity-reason", "identity refused email")
    assert_shown_escaped(by_template["refusal_notice"], "refusal-reasons", "refusal email")


def test_what_a_professional_types_and_a_hostile_directory_entry_are_escaped(app, policy, mailbox, run_jobs):
    # The directory is synced from the application (policy art. 8.2): its names are input too.
    pro = make_professional(first_name=payload("pro-first"), last_name=payload("pro-last"))
    # Received today: the one-month deadline is ahead, so the professional may still ask for more time.
    req = make_request(policy=policy, status=Status.OPEN, first_name=payload("patient-first"),
                       last_name=payload("patient-last"), details=payload("patient-details"), received_at=utcnow())
    routing.route_to_professional(req, Actor.system(), pro)
    token = routing.task_token(routing.live_task(req))
    db.session.commit()
    professional = app.test_client()
    page = professional.get(f"/task/{token}").get_data(as_text=True)
    for tag in ("patient-first", "patient-last", "patient-details"):
        assert_shown_escaped(page, tag, f"task page ({tag})")

    assert professional.post(f"/task/{token}/help", data={"question": payload("help-question")}).status_code == 303
    assert professional.post(f"/task/{token}/extension", data={"reason": payload("pro-extension")}).status_code == 303
    preview = professional.post(f"/task/{token}/answer", data={"outcome": "refused", "message": payload("pro-message"),
                                                                "reasons": payload("pro-reasons")})
    assert_shown_escaped(preview.get_data(as_text=True), "pro-message", "answer preview")
    r = answer_task_page(professional, routing.live_task(req), {"outcome": "refused", "message": payload("pro-message"),
                                                                "reasons": payload("pro-reasons")})
    assert r.status_code == 303, r.get_data(as_text=True)[:2000]

    dpo, _ = signed_in_client(app, "dpo")
    page = dpo.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    for tag in ("pro-first", "pro-last", "help-question", "pro-message", "pro-reasons", "patient-details"):
        assert_shown_escaped(page, tag, f"back-office ({tag})")
    letters = letters_of(req)
    assert_pdf_shows(letters["refusal"], "pro-reasons", "refusal letter written from the professional's answer")

    # "Not my patient", on another request: the DPO's email names the professional, escaped.
    other = make_request(policy=policy, status=Status.OPEN)
    routing.route_to_professional(other, Actor.system(), pro)
    other_token = routing.task_token(routing.live_task(other))
    db.session.commit()
    r = professional.post(f"/task/{other_token}/decline", data={"confirm": "1", "comment": payload("decline")})
    assert r.status_code == 200
    sent = html_of_sent_emails(mailbox, run_jobs)
    for subject, html in sent:
        assert_no_markup_injected(html, f"email {subject}")
        assert "<script" not in subject and "<img" not in subject
    declined = [m.body_html for m in db.session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.template == "task_declined"))]
    assert declined and str(escape(payload("pro-first"))) in declined[0]


def test_hostile_text_in_an_api_submission_is_escaped_in_the_back_office(app, mailbox):
    _, secret = make_key("submit")
    body = account_request_body(details=payload("api-details"))
    body["subject"] = dict(body["subject"], first_name=payload("api-first"), last_name=payload("api-last"))
    r = app.test_client().post("/api/v1/requests", json=body, headers=bearer(secret))
    assert r.status_code == 201, r.get_json()
    # The JSON API returns JSON: the text is data there, never markup.
    assert r.headers["Content-Type"].startswith("application/json")
    dpo, _ = signed_in_client(app, "dpo")
    page = dpo.get(f"/backoffice/requests/{r.get_json()['reference']}").get_data(as_text=True)
    for tag in ("api-details", "api-first", "api-last"):
        assert_shown_escaped(page, tag, f"back-office ({tag})")


# =====================================================================================================
# CSRF
# =====================================================================================================


@pytest.fixture
def csrf_app(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        yield app


class OwnContextClient:
    """A test client whose every request starts from a clean ``g``, as each request does in production.

    The tests hold an app context open, and Flask reuses it for the client's requests: Flask-WTF would
    then serve the CSRF token it cached in ``g`` for an earlier session.
    """

    def __init__(self, app):
        self.client = app.test_client()

    def open(self, *args, **kwargs):
        from flask import g

        g.pop("csrf_token", None)
        return self.client.open(*args, **kwargs)

    def get(self, url, **kwargs):
        return self.open(url, method="GET", **kwargs)

    def post(self, url, **kwargs):
        return self.open(url, method="POST", **kwargs)


def _sign_in_with_csrf(app, role="admin"):
    staff, secret = staff_with_totp(role)
    db.session.commit()
    client = OwnContextClient(app)
    token = csrf_token(client.get("/backoffice/login").get_data(as_text=True))
    r = client.post("/backoffice/login", data={"email": staff.email, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    r = client.post("/backoffice/login/code", data={"code": totp_code(secret), "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith("/backoffice/"), r.headers.get("Location")
    return client, csrf_token(client.get("/backoffice/").get_data(as_text=True))


def _csrf_world(policy):
    pro = make_professional()
    req = make_request(policy=policy, status=Status.OPEN)
    req.email_confirmed_at = utcnow()
    routing.route_to_professional(req, Actor.system(), pro)
    doc = add_identity_document(req, policy)
    link = fulfilment.issue_link(req, [doc], Actor.system("tests"), purpose="letter", email=False)
    colleague, _ = staff_with_totp("agent", email="colleague@example.test")
    tokens = {"status": status_token(req), "task": routing.task_token(routing.live_task(req)),
              "download": link._token}
    db.session.commit()
    tokens["confirm"] = intake.confirmation_token(req)
    values = {"reference": req.reference, "document_id": doc.id, "link_id": link.id, "staff_id": colleague.id,
              "key_id": 999999, "endpoint_id": 999999, "message_id": 999999, "task_id": 999999,
              "dataset_id": 999999, "run_id": 999999, "dry_run_id": 999999, "form": "note"}
    return values, tokens


def _form_posts(app, values, tokens):
    from flask import url_for

    families = {"public.confirm_POST": "confirm", "public.upload_POST": "status", "public.withdraw_POST": "status",
                "public.clarification_POST": "status", "public.rectification_POST": "status",
                "public.download_POST": "download"}
    posts = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "POST" not in rule.methods or rule.rule.startswith("/api/"):
                continue
            args = {a: values.get(a) for a in rule.arguments if a != "token"}
            if "token" in rule.arguments:
                family = "task" if rule.endpoint.startswith("tasks.") else families.get(rule.endpoint, "reset")
                args["token"] = tokens.get(family, "no-such-token")
            posts.append((rule.endpoint, url_for(rule.endpoint, **args)))
    return sorted(posts, key=lambda p: p[0] == "backoffice.logout_POST")


def _counts():
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in (Event, OutboxMessage, Document))


def test_every_form_refuses_a_post_without_its_csrf_token(csrf_app):
    values, tokens = _csrf_world(csrf_app.extensions["dsar_policy"])
    client, good_token = _sign_in_with_csrf(csrf_app)
    # The token of another browser's session is no better than none.
    stranger = OwnContextClient(csrf_app)
    other_token = csrf_token(stranger.get("/request/new").get_data(as_text=True))
    before = _counts()
    posts = _form_posts(csrf_app, values, tokens)
    assert len(posts) >= 35   # the public, back-office and task forms
    for endpoint, url in posts:
        for data in ({}, {"csrf_token": other_token}, {"csrf_token": "forged"}):
            r = client.post(url, data=data, headers={"Accept-Language": "fr"})
            where = f"{endpoint} {url} {sorted(data)} -> {r.status_code}"
            assert r.status_code == 400, where
            body = r.get_data(as_text=True).replace("&#39;", "'")
            assert "Votre formulaire a expiré ou n'a pas été envoyé depuis ce site" in body, where
    db.session.expire_all()
    assert _counts() == before, "a post without its CSRF token changed something"
    # The session still works, and the right token is accepted (the check is not refusing everything).
    r = client.post("/backoffice/search", data={"q": "Dupont", "csrf_token": good_token})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]


def test_the_session_cookie_is_not_sent_cross_site(csrf_app):
    client = csrf_app.test_client()
    r = client.get("/request/new")
    cookie = r.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


# =====================================================================================================
# Header injection in email fields
# =====================================================================================================

CRLF_ADDRESSES = [
    "jeanne@example.test\r\nBcc: evil@example.test",
    "jeanne@example.test\nBcc: evil@example.test",
    "jeanne@example.test\rBcc: evil@example.test",
    "jeanne@example.test%0d%0aBcc: evil@example.test",
    "jeanne@example.test,evil@example.test",
    "Jeanne <jeanne@example.test>\r\nCc: evil@example.test",
]


@pytest.fixture
def envelope_smtp():
    """An SMTP server on loopback that records each envelope (recipients included)."""
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self):
            self.envelopes = []

        async def handle_DATA(self, server, session, envelope):
            self.envelopes.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
            return "250 OK"

    handler = Handler()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.mark.parametrize("address", CRLF_ADDRESSES)
def test_an_address_with_a_line_break_or_a_second_address_is_refused_everywhere(app, address):
    client = app.test_client()
    r = client.post("/request/new", data={**FORM, "subject_email": address}, headers={"Accept-Language": "fr"})
    assert r.status_code == 422
    r = client.post("/links", data={"email": address})
    assert r.status_code == 422
    _, secret = make_key("submit", "directory")
    body = account_request_body()
    body["subject"] = dict(body["subject"], email=address)
    r = client.post("/api/v1/requests", json=body, headers=bearer(secret))
    assert r.status_code == 422 and "subject.email" in r.get_json()["fields"]
    r = client.post("/api/v1/directory/professionals", headers=bearer(secret), json={"professionals": [
        {"external_id": "p-1", "first_name": "Ana", "last_name": "Roy", "email": address}]})
    assert r.status_code == 422
    dpo, _ = signed_in_client(app, "dpo")
    r = dpo.post("/backoffice/requests/new", data={
        "channel": "post", "received_on": utcnow().date().isoformat(), "type": "access", "language": "fr",
        "subject.kind": "prospect", "subject.first_name": "Jeanne", "subject.last_name": "Dupont",
        "subject.email": address})
    assert r.status_code == 422
    admin, _ = signed_in_client(app, "admin")
    r = admin.post("/backoffice/admin/staff", data={"email": address, "name": "New", "role": "agent", "language": "fr"})
    assert r.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def test_a_line_break_in_a_name_never_reaches_an_email_header(make_app, envelope_smtp):
    handler, port = envelope_smtp
    app = make_app(MAIL_PORT=port)
    with app.app_context():
        client = app.test_client()
        form = {**FORM, "subject_first_name": "Jeanne\r\nBcc: evil@example.test",
                "subject_last_name": "Dupont\nSubject: owned", "subject_email": "jeanne@example.test"}
        assert client.post("/request/new", data=form).status_code == 303
        req = db.session.scalar(sa.select(DataRequest))
        assert "\n" not in req.subject.first_name and "\r" not in req.subject.last_name
        backend = app.extensions["dsar_jobs"]
        if backend.name == "rq":
            from rq import SimpleWorker

            SimpleWorker([backend.queue()], connection=backend.redis).work(burst=True, with_scheduler=False)
        deadline = time.monotonic() + 10
        while not handler.envelopes and time.monotonic() < deadline:
            time.sleep(0.05)
        assert handler.envelopes
        for recipients, content in handler.envelopes:
            assert recipients == ["jeanne@example.test"]   # the SMTP envelope: one recipient, the right one
            msg = email.message_from_string(content, policy=email_policy.default)
            assert msg.get_all("To") == ["jeanne@example.test"]
            assert msg.get_all("Bcc") is None and msg.get_all("Cc") is None
            assert len(msg.get_all("Subject")) == 1 and not msg["Subject"].startswith("owned")
            assert "evil@example.test" not in "".join(f"{k}: {v}" for k, v in msg.items())


def test_the_outbox_and_the_mail_builder_refuse_a_line_break_themselves(app):
    from dsar.mail import build_message

    with pytest.raises(ValueError):
        notifications.queue_email("a@example.test\r\nBcc: evil@example.test", "confirm_email", "fr", {})
    with pytest.raises(ValueError):
        build_message(sender="dsar@example.test", recipient="a@example.test", subject="Hi\r\nBcc: evil@example.test",
                      text="x", html=None, message_id="<x@example.test>")
    db.session.rollback()


# =====================================================================================================
# Oversized bodies
# =====================================================================================================


def test_oversized_bodies_get_a_413_and_nothing_is_written(make_app):
    app = make_app(MAX_CONTENT_LENGTH=256 * 1024)
    with app.app_context():
        policy = app.extensions["dsar_policy"]
        client = app.test_client()
        big = "x" * (300 * 1024)
        r = client.post("/request/new", data={**FORM, "details": big}, headers={"Accept-Language": "fr"})
        assert r.status_code == 413
        assert "Le fichier ou le formulaire est trop volumineux" in r.get_data(as_text=True)
        # The API: 2 MiB at most whatever the app's limit, answered in its JSON shape.
        roomy = make_app(MAX_CONTENT_LENGTH=8 * 1024 * 1024)
        with roomy.app_context():
            _, secret = make_key("submit")
            body = account_request_body(details="z" * (3 * 1024 * 1024))
            r = roomy.test_client().post("/api/v1/requests", json=body, headers=bearer(secret))
            assert r.status_code == 413
            assert r.is_json and r.get_json()["error"] and r.get_json()["message"]
        # The back-office: an action form.
        dpo, _ = signed_in_client(app, "dpo")
        req = make_request(policy=policy, status=Status.OPEN)
        db.session.commit()
        r = dpo.post(f"/backoffice/requests/{req.reference}/actions/note", data={"version": "1", "note": big})
        assert r.status_code == 413
        # The professional's answer with files over the limit.
        pro = make_professional()
        routing.route_to_professional(req, Actor.system(), pro)
        task_token = routing.task_token(routing.live_task(req))
        db.session.commit()
        r = client.post(f"/task/{task_token}/answer", data={
            "outcome": "granted", "message": "ok", "files": (io.BytesIO(b"%PDF-1.4 " + b"0" * (300 * 1024)), "big.pdf")},
            content_type="multipart/form-data")
        assert r.status_code == 413
        db.session.expire_all()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Document)) == 0
        assert db.session.get(DataRequest, req.id).status == Status.IN_PROGRESS


def test_an_identity_document_over_the_policy_limit_is_refused_before_it_is_stored(app, policy):
    req, token = web_request()
    limit = policy.identity.max_size_bytes
    r = app.test_client().post(f"/status/{token}/document", data={
        "document": (io.BytesIO(b"\xff\xd8\xff" + b"0" * (limit + 1024)), "cni.jpg")},
        content_type="multipart/form-data", headers={"Accept-Language": "fr"})
    assert r.status_code == 413
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Document)) == 0


def test_a_chunked_body_without_length_is_cut_at_the_limit(make_app):
    """Through a real HTTP server: no Content-Length, the body streamed in chunks past the limit."""
    app = make_app(MAX_CONTENT_LENGTH=64 * 1024)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        conn.putrequest("POST", "/request/new")
        conn.putheader("Content-Type", "application/x-www-form-urlencoded")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        chunk = b"details=" + b"x" * 16 * 1024
        try:
            for _ in range(16):   # 256 KiB in all
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass   # the server stopped reading: what we want
        assert conn.getresponse().status == 413
        conn.close()
    finally:
        server.shutdown()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 0


# =====================================================================================================
# Rate limits
# =====================================================================================================


@pytest.fixture
def limited(make_app, redis_url):
    """Limits on, tight; on Redis in the PostgreSQL pass (shared by every worker process), memory otherwise."""

    def build(**overrides):
        return make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_url or "memory://", **overrides)

    return build


def test_the_api_is_limited_per_key_and_key_guessing_per_address(limited):
    app = limited(DSAR_API_RATE_LIMIT="3 per minute", DSAR_API_AUTH_FAILURE_LIMIT="3 per minute")
    with app.app_context():
        client = app.test_client()
        _, busy = make_key("read", name="busy")
        _, calm = make_key("read", name="calm")
        codes = [client.get("/api/v1/requests", headers=bearer(busy)).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        r = client.get("/api/v1/requests", headers=bearer(busy, **{"Accept-Language": "fr"}))
        assert r.status_code == 429 and r.get_json()["error"] and "Retry-After" in r.headers
        assert client.get("/api/v1/requests", headers=bearer(calm)).status_code == 200   # another key is not affected
        guesser = {"REMOTE_ADDR": "198.51.100.66"}
        codes = [client.get("/api/v1/requests", headers=bearer(f"dsar_abcdefabcdef_guess{i}"),
                            environ_overrides=guesser).status_code for i in range(5)]
        assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]


def test_sign_in_attempts_are_limited_and_a_spoofed_forwarded_for_changes_nothing(limited):
    app = limited()
    with app.app_context():
        client = app.test_client()
        codes = []
        for i in range(34):
            r = client.post("/backoffice/login", data={"email": f"nobody{i}@example.test", "password": "wrong password"},
                            headers={"X-Forwarded-For": f"203.0.113.{i}"})
            codes.append(r.status_code)
        assert set(codes[:30]) <= {401, 429}
        assert codes[30:] == [429] * 4, codes   # 30 per minute per client address, whatever the header says


def test_public_submissions_are_limited_whatever_x_forwarded_for_says(limited):
    app = limited(DSAR_RATE_LIMIT_SUBMIT="2 per hour")
    with app.app_context():
        client = app.test_client()
        codes = [client.post("/request/new", data={**FORM, "subject_email": f"p{i}@example.test"},
                             headers={"X-Forwarded-For": f"192.0.2.{i}", "Accept-Language": "fr"}).status_code
                 for i in range(4)]
        assert codes == [303, 303, 429, 429]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 2


def test_a_professionals_actions_are_limited(limited):
    app = limited(DSAR_RATE_LIMIT_TASK_ACTION="2 per hour")
    with app.app_context():
        pro = make_professional()
        req = make_request(policy=app.extensions["dsar_policy"], status=Status.OPEN)
        routing.route_to_professional(req, Actor.system(), pro)
        token = routing.task_token(routing.live_task(req))
        db.session.commit()
        client = app.test_client()
        codes = [client.post(f"/task/{token}/help", data={"question": f"Question {i}?"}).status_code for i in range(4)]
        assert codes == [303, 303, 429, 429]
        helps = db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.request_id == req.id,
                                                                                       Event.action.like("%help%")))
        assert helps == 2


@pytest.mark.redis
def test_two_workers_share_the_same_limits_through_redis(limited):
    """Two app instances (two gunicorn workers) on one Redis: a client cannot double its budget by luck of routing."""
    first = limited(DSAR_RATE_LIMIT_SUBMIT="2 per hour")
    second = limited(DSAR_RATE_LIMIT_SUBMIT="2 per hour")
    codes = []
    for app in (first, second, first, second):
        with app.app_context():
            codes.append(app.test_client().post("/request/new", data=FORM).status_code)
    assert codes == [303, 303, 429, 429]
