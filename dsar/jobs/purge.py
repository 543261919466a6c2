"""Periodic clean-ups of the public journey: unconfirmed requests and identity copies past their retention."""
from __future__ import annotations

import logging

from ..deadlines import legal_day
from ..extensions import db
from ..models import utcnow
from . import job

log = logging.getLogger(__name__)

BATCH = 200
MAX_BATCHES = 50  # a daily job: what is left is done tomorrow


@job
def purge_unconfirmed_requests() -> int:
    """Daily: delete requests whose address was never confirmed within the policy's waiting period."""
    from ..services.intake import purge_unconfirmed

    today = legal_day(utcnow())
    total = 0
    for _ in range(MAX_BATCHES):
        # One commit per batch: files are deleted before their rows, so a failed batch leaves rows to retry.
        purged = purge_unconfirmed(today, limit=BATCH)
        db.session.commit()
        total += purged
        if purged < BATCH:
            break
    log.info("purged %d unconfirmed requests", total)
    return total


@job
def purge_expired_identity_copies() -> int:
    """Daily: delete identity copies whose retention ended (policy art. 12), keeping the record of the check."""
    from ..services.intake import purge_identity_copies

    today = legal_day(utcnow())
    total = 0
    for _ in range(MAX_BATCHES):
        purged = purge_identity_copies(today, limit=BATCH)
        db.session.commit()
        total += purged
        if purged < BATCH:
            break
    log.info("purged %d identity copies", total)
    return total
