"""Periodic: delete the files of expired download links once their grace period is over (DESIGN.md "Answers").

Letters and packs are rendered in the transaction of the action that causes them (a letter renders in
about 0.1 s, see dsar/pdf.py), so the only background work here is the purge.
"""
from __future__ import annotations

import logging

from ..extensions import db
from ..services.fulfilment.delivery import purge_expired_links
from . import job

log = logging.getLogger(__name__)


@job
def purge_delivered_files(limit: int = 200) -> int:
    """Delete what expired links delivered, keeping the hashes; one batch per run. Returns the links purged."""
    purged = purge_expired_links(limit=limit)
    db.session.commit()
    if purged:
        log.info("purged the files of %s expired download links", purged)
    return purged
