"""Emails: rendered and written to the outbox in the transaction of the change that causes them; the email transport.
"""
from __future__ import annotations

import secrets

from flask import current_app, render_template
from flask_babel import force_locale

from ..formatting import human_size
from ..mail import build_message, mailer_for
from ..models import OutboxMessage
from ..models.enums import OutboxKind
from ..tokens import status_token
from ..urls import public_url
from . import email_links, outbox


def render_email(template: str, language: str, context: dict) -> tuple[str, str, str]:
    """Render templates/email/<template>/{subject.txt, body.txt, body.html} in ``language``."""
    with force_locale(language):
        # Sizes are written in the email's language (issue 18: English emails said "Ko").
        ctx = dict(context, language=language, controller=_controller(), human_size=human_size)
        subject = render_template(f"email/{template}/subject.txt", **ctx)
        text = render_template(f"email/{template}/body.txt", **ctx)
        html = render_template(f"email/{template}/body.html", **ctx)
    # One line, no CR/LF: a subject never carries a header injection.
    subject = " ".join(subject.split())
    return subject, text, html


def _controller():
    policy = current_app.extensions.get("dsar_policy")
    return getattr(policy, "controller", None)


def queue_email(to: str, template: str, language: str, context: dict, *, request=None) -> OutboxMessage:
    """Write an email to the outbox; it is sent after the commit, at least once (see jobs/outbox.py).

    The message is not flushed: a caller that needs its id flushes the session first."""
    if "\n" in to or "\r" in to:
        raise ValueError("an email address never contains a line break")
    subject, text, html = render_email(template, language, context)
    domain = current_app.config["MAIL_DEFAULT_SENDER"].rpartition("@")[2] or "dsar.local"
    return outbox.queue(
        kind=OutboxKind.EMAIL,
        template=template,
        language=language,
        recipient=to,
        subject=subject,
        # No usable secret at rest (issue 12 item 2): links redacted here, the email as sent sealed until sent.
        body_text=email_links.redact_links(text),
        body_html=email_links.redact_links(html),
        sealed_body=email_links.seal(text, html),
        body_sha256=email_links.digest(text, html),
        request=request,
        message_id=f"<{secrets.token_hex(16)}@{domain}>",
    )


@outbox.transport(OutboxKind.EMAIL)
def send_email(msg: OutboxMessage) -> None:
    """The email transport (called by ``jobs.outbox.deliver``); raises so that the outbox retries."""
    # The stored bodies have their links redacted; the email as it must be sent is sealed beside them.
    # A message written before the seal existed has none and goes out as stored.
    text, html = email_links.unseal(msg.sealed_body) if msg.sealed_body else (msg.body_text or "", msg.body_html)
    email = build_message(
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
        recipient=msg.recipient,
        subject=msg.subject or "",
        text=text,
        html=html,
        message_id=msg.message_id,
    )
    mailer_for(current_app).send(email)


def status_url(req) -> str:
    """The requester's secret status-page link (see tokens.status_token)."""
    return public_url("public.status_GET", token=status_token(req))


def email_requester(req, template: str, context: dict | None = None) -> OutboxMessage:
    """An email to whoever made the request, in their language, with their status link."""
    ctx = {"reference": req.reference, "status_url": status_url(req), "request": req}
    ctx.update(context or {})
    return queue_email(req.requester.email, template, req.language or "fr", ctx, request=req)


def dpo_address() -> str | None:
    """The DPO's address (GDPR art. 37(7)): DSAR_DPO_EMAIL, else the policy's DPO contact. The one lookup for
    the alerts emailed to the DPO and the pages that tell people whom to write to."""
    return current_app.config.get("DSAR_DPO_EMAIL") or getattr(_controller(), "dpo_email", None)


def email_dpo(template: str, context: dict, *, language: str = "fr") -> OutboxMessage | None:
    """An alert to the DPO mailbox (DSAR_DPO_EMAIL, else the policy's DPO contact)."""
    to = dpo_address()
    if not to:
        return None
    return queue_email(to, template, language, context)
