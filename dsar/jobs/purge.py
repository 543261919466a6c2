"""Periodic clean-ups of the public journey: unconfirmed requests and identity copies past their retention."""
from __future__ import annotations

import logging

from ..deadlines import legal_day
from ..extensions import db
from ..models import utcnow
from ..services.intake import purge_identity_copies, purge_unconfirmed
from . import job

log = logging.getLogger(__name__)

BATCH = 200
MAX_BATCHES = 50  # a daily job: what is left is done tomorrow


def _in_batches(purge, what: str) -> int:
    """Run a purge batch by batch, one commit each: files are deleted before their rows, so a failed
    batch leaves rows to retry; what is left after MAX_BATCHES is done tomorrow."""
    today = legal_day(utcnow())
    total = 0
    for _ in range(MAX_BATCHES):
        purged = purge(today, limit=BATCH)
        db.session.commit()
        total += purged
        if purged < BATCH:
            break
    log.info("purged %d %s", total, what)
    return total


@job
def purge_unconfirmed_requests() -> int:
    """Daily: delete requests whose address was never confirmed within the policy's waiting period."""
    return _in_batches(purge_unconfirmed, "unconfirmed requests")


@job
def purge_expired_identity_copies() -> int:
    """Daily: delete identity copies whose retention ended (policy art. 12), keeping the record of the check."""
    return _in_batches(purge_identity_copies, "identity copies")
