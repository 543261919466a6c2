"""Writing messages to the outbox, in the transaction of the change that causes them."""
from __future__ import annotations

import secrets

from flask import current_app, render_template
from flask_babel import force_locale

from ..extensions import db
from ..formatting import human_size
from ..jobs import enqueue_after_commit
from ..models import OutboxMessage
from ..models.enums import OutboxKind
from . import email_links


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
    """Write an email to the outbox; it is sent after the commit, at least once (see jobs/outbox.py)."""
    if "\n" in to or "\r" in to:
        raise ValueError("an email address never contains a line break")
    subject, text, html = render_email(template, language, context)
    domain = current_app.config["MAIL_DEFAULT_SENDER"].rpartition("@")[2] or "dsar.local"
    msg = OutboxMessage(
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
        request_id=getattr(request, "id", None),
        message_id=f"<{secrets.token_hex(16)}@{domain}>",
    )
    db.session.add(msg)
    db.session.flush()
    from ..jobs.outbox import deliver

    enqueue_after_commit(deliver, msg.id, job_id=f"outbox-{msg.id}")
    return msg


def status_url(req) -> str:
    """The requester's secret status-page link (see tokens.status_token)."""
    from ..tokens import status_token
    from ..urls import public_url

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
