"""Emails: written to the outbox in the transaction of the change that causes them, rendered by their delivery job.

The change stores the template, the language and the context (sealed: it carries bearer links), never renders
(issue 19 item 7: Jinja was most of what the sweep and a submission still spent on an email). The transport renders
it just before sending, and keeps the subject, the body with its secret links redacted and the hash of what it sent.
"""
from __future__ import annotations

import logging
import secrets

from flask import current_app, render_template
from flask_babel import force_locale

from ..formatting import human_size, long_date
from ..mail import build_message, mailer_for
from ..models import OutboxMessage
from ..models.enums import OutboxKind
from ..tokens import status_token
from ..urls import public_url
from . import email_context, email_links, outbox

log = logging.getLogger(__name__)


def render_email(template: str, language: str, context: dict) -> tuple[str, str, str]:
    """Render templates/email/<template>/{subject.txt, body.txt, body.html} in ``language``."""
    with force_locale(language):
        # Sizes are written in the email's language (issue 18: English emails said "Ko").
        ctx = dict(context, language=language, controller=_controller(), human_size=human_size,
                   fmt_date=lambda d: long_date(d, language))
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
    """Write an email to the outbox; it is rendered and sent after the commit, at least once (see jobs/outbox.py).

    ``context`` holds plain values and rows (read again by id when the email is rendered: see email_context). The
    message is not flushed: a caller that needs its id flushes the session first."""
    if "\n" in to or "\r" in to:
        raise ValueError("an email address never contains a line break")
    domain = current_app.config["MAIL_DEFAULT_SENDER"].rpartition("@")[2] or "dsar.local"
    fields = dict(kind=OutboxKind.EMAIL, template=template, language=language, recipient=to, request=request,
                  message_id=f"<{secrets.token_hex(16)}@{domain}>")
    try:
        return outbox.queue(**fields, sealed_body=email_context.seal(context, language))
    except email_context.Unfreezable as exc:
        # A value no JSON carries (or a row without an id yet): the email is rendered now, as before issue 19.
        log.warning("email %s rendered when queued: %s", template, exc)
    subject, text, html = render_email(template, language, context)
    return outbox.queue(**fields, **_recorded(subject, text, html), sealed_body=email_links.seal(text, html))


def _recorded(subject: str, text: str, html: str | None) -> dict:
    """What the outbox keeps of an email as sent: no usable secret at rest (issue 12 item 2), links redacted."""
    return {"subject": subject, "body_text": email_links.redact_links(text),
            "body_html": email_links.redact_links(html), "body_sha256": email_links.digest(text, html)}


def as_sent(msg: OutboxMessage) -> tuple[str, str, str | None]:
    """(subject, text, html) of an email as it is to be sent, links included: rendered from its sealed context, or
    the sealed copy of an email rendered when queued, or (sealed copy erased) the stored redacted one.

    ``email_context.RowGone`` when a row its context refers to no longer exists."""
    if not msg.sealed_body:
        return msg.subject or "", msg.body_text or "", msg.body_html
    payload = email_context.unseal(msg.sealed_body)
    if email_context.is_context(payload):
        return render_email(msg.template, msg.language, email_context.thaw(payload))
    return msg.subject or "", payload["text"], payload["html"]


@outbox.transport(OutboxKind.EMAIL)
def send_email(msg: OutboxMessage) -> None:
    """The email transport (called by ``jobs.outbox.deliver``, which commits what it records here with the sent
    status); raises so that the outbox retries."""
    subject, text, html = as_sent(msg)
    for name, value in _recorded(subject, text, html).items():
        setattr(msg, name, value)
    email = build_message(
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
        recipient=msg.recipient,
        subject=subject,
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
