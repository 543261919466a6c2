"""The outbox: a message is written in the transaction of the change that causes it and delivered after the commit.

``queue`` writes one message and queues its delivery job, ``dsar.jobs.outbox.deliver``, by its dotted path (a service
never imports a job body). The job sends the message through the transport registered for it: each module that owns
a kind of message registers its transport when it is imported (``notifications``: email, ``webhooks``: webhook,
``opendsr``: the OpenDSR status callback). A message no transport claims is an error, never a silent skip.

No flush here: the rows of one transaction go to the database together with its commit (one multi-row INSERT), and
the delivery job learns the message's id after the commit (``jobs.RowId``).
"""
from __future__ import annotations

from collections.abc import Callable

from ..extensions import db
from ..jobs import RowId, enqueue_after_commit
from ..models import OutboxMessage
from ..models.enums import OutboxKind

DELIVER = "dsar.jobs.outbox.deliver"
#: OpenDSR status callbacks are stored as webhook rows (the back-office delivery log lists them with the webhooks)
#: and told apart by this template; they are signed with the OpenDSR key, not an endpoint's HMAC secret.
OPENDSR_CALLBACK = "opendsr.callback"

#: A transport sends one message or raises (the outbox retries it); it may return the receiver's HTTP status.
Transport = Callable[[OutboxMessage], "int | None"]
_TRANSPORTS: dict[str, Transport] = {}


class Undeliverable(Exception):
    """This message can never be sent (what it was written about is gone): it fails at once, without retries."""


class UnknownTransport(LookupError):
    """No transport is registered for a message: its kind is unknown to this version, or its module not loaded."""


def transport(name: str):
    """Register the decorated function as the transport of the messages ``transport_name`` gives ``name``."""

    def register(func: Transport) -> Transport:
        _TRANSPORTS[name] = func
        return func

    return register


def transport_name(msg: OutboxMessage) -> str:
    if msg.kind == OutboxKind.WEBHOOK and msg.template == OPENDSR_CALLBACK:
        return OPENDSR_CALLBACK
    return msg.kind


def transport_for(msg: OutboxMessage) -> Transport:
    name = transport_name(msg)
    try:
        return _TRANSPORTS[name]
    except KeyError:
        raise UnknownTransport(f"no transport is registered for outbox messages of kind {name!r}") from None


def delivery_job_id(message_id: int, attempts: int = 0) -> str:
    """The RQ job id of a message's next attempt: ``outbox-<id>`` first, then ``outbox-<id>-<attempts>``.

    One id per attempt: a job that only waits is not queued twice, but the job of a worker killed mid-send,
    which RQ still believes "started" until its maintenance runs (up to 10 minutes), does not hold back the
    next attempt either. Two jobs for one message are harmless anyway: only one can claim it.
    """
    return f"outbox-{message_id}" if not attempts else f"outbox-{message_id}-{attempts}"


def queue(*, kind: str, template: str, recipient: str, message_id: str, body_text: str | None = None, language: str = "fr",
          subject: str | None = None, body_html: str | None = None, sealed_body: str | None = None,
          body_sha256: str | None = None, request=None) -> OutboxMessage:
    """Write one message to the outbox; it is delivered after the commit (never if the transaction rolls back)."""
    msg = OutboxMessage(kind=kind, template=template, language=language, recipient=recipient, subject=subject,
                        body_text=body_text, body_html=body_html, sealed_body=sealed_body, body_sha256=body_sha256,
                        request_id=getattr(request, "id", None), request=request, message_id=message_id)
    db.session.add(msg)
    enqueue_after_commit(DELIVER, RowId(msg), job_id=delivery_job_id)
    return msg
