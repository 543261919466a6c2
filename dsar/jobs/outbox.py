"""Delivering outbox messages through their transports (dsar/services/outbox.py), and sweeping up what is stuck."""
from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa

from ..extensions import db
from ..models import OutboxMessage, utcnow
from ..models.enums import OutboxStatus
# The transports register themselves when their modules are imported: email, webhook, OpenDSR callback.
from ..services import notifications, opendsr, webhooks  # noqa: F401
from ..services.outbox import Undeliverable, delivery_job_id, transport_for
from . import enqueue_after_commit, job

log = logging.getLogger(__name__)

#: The longest one delivery may take, in seconds: the deliver job's RQ timeout, past which RQ kills the job (so a
#: stalled SMTP server or webhook receiver cannot hold a message longer). Each SMTP exchange has MAIL_TIMEOUT (30 s).
SEND_TIMEOUT = 90
#: A claim older than the send timeout plus the commit recording its result belongs to a worker that died: the sweep
#: (every minute) gives the message back. Delivery is therefore at least once: a worker killed after the server
#: accepted a message (250) but before the commit marking it sent leaves a claim that expires, and the message goes
#: out again with the same Message-ID. Outside that window it goes out once.
CLAIM_TIMEOUT = timedelta(seconds=SEND_TIMEOUT + 15)
BACKOFF = [60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600]
#: A message still pending this long after it was due has lost its job: a worker killed between taking the job from
#: Redis and claiming the message leaves RQ believing the job queued, in no queue, and the sweep would skip its id
#: forever (seen once in 300 submissions with random kills, bench/fault_worker_kill.py, 2026-11-30). The sweep then
#: queues it again under an id of its own; two jobs for one message are harmless, only one can claim it. A backlog
#: older than this gets one more job a minute per message, each a cheap "skipped".
LOST_JOB_AFTER = CLAIM_TIMEOUT


def _claim(message_id: int) -> OutboxMessage | None:
    """Take the message for sending, atomically: only one worker can move it from pending to sending."""
    now = utcnow()
    claimed = db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENDING, claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not claimed:
        return None
    return db.session.get(OutboxMessage, message_id)


@job
def deliver(message_id: int) -> str:
    """Send one message. A retry of a message already sent (or being sent) does nothing. At least once: see
    CLAIM_TIMEOUT."""
    msg = _claim(message_id)
    if msg is None:
        return "skipped"
    try:
        status = transport_for(msg)(msg)   # UnknownTransport for a kind nothing sends: failed, retried, logged
        if status is not None:
            msg.response_status = status
    except Exception as exc:
        _failed(msg, exc)
        raise
    msg.status = OutboxStatus.SENT
    msg.sent_at = utcnow()
    msg.last_error = None
    msg.sealed_body = None   # its links are live secrets: gone with the commit that says it was sent
    db.session.commit()
    return "sent"


def _failed(msg: OutboxMessage, exc: Exception) -> None:
    db.session.rollback()
    msg = db.session.get(OutboxMessage, msg.id)
    # The error's class and a short text: never the message body, which holds personal data.
    msg.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
    # A webhook receiver that answered with an error status: keep it for the delivery log.
    msg.response_status = getattr(exc, "response_status", msg.response_status)
    if msg.attempts >= msg.max_attempts or isinstance(exc, Undeliverable):
        msg.status = OutboxStatus.FAILED
        msg.sealed_body = None   # never sent now: its links must not outlive it (a new email carries new ones)
    else:
        msg.status = OutboxStatus.PENDING
        delay = BACKOFF[min(msg.attempts - 1, len(BACKOFF) - 1)]
        msg.next_attempt_at = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    log.warning("outbox message %s failed (attempt %s): %s", msg.id, msg.attempts, msg.last_error)


@job
def sweep_outbox(limit: int = 500) -> int:
    """Periodic: requeue what is due and release claims left by dead workers. Returns how many were queued."""
    now = utcnow()
    db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.claimed_at < now - CLAIM_TIMEOUT)
        .values(status=OutboxStatus.PENDING)
        .execution_options(synchronize_session=False)
    )
    due = db.session.execute(
        sa.select(OutboxMessage.id, OutboxMessage.attempts, OutboxMessage.next_attempt_at)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    for message_id, attempts, due_at in due:
        job_id = delivery_job_id(message_id, attempts)
        if due_at < now - LOST_JOB_AFTER:
            job_id = f"{job_id}-r{int(now.timestamp())}"
        enqueue_after_commit(deliver, message_id, job_id=job_id)
    db.session.commit()
    return len(due)


deliver.job_timeout = SEND_TIMEOUT
# Retries follow the message's own back-off (next_attempt_at) through sweep_outbox, run every minute by the
# scheduler that /health watches; RQ's delayed retries would wait on a worker's scheduler and could outlive it.
deliver.retried_by_sweep = True
