"""What collection, the pack and execution share about a request's runs: the systems map, the subject's
identities, the runs of a request, and a run's error as the DPO may see it (without personal data)."""
from __future__ import annotations

import re

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import DataRequest
from ..models.systems import RunPurpose, SystemRun
from .connectors.base import ConnectorError
from .model import SystemsMap


def systems_map() -> SystemsMap | None:
    return current_app.extensions.get("dsar_systems")


def identities_of(req: DataRequest) -> dict[str, list[str]]:
    """The identities the request carries, by kind (only ids and contact points the subject gave or was verified by)."""
    s = req.subject
    out: dict[str, list[str]] = {}
    if s is not None and s.email:
        out["email"] = [s.email]
    if s is not None and s.phone:
        out["phone"] = [s.phone]
    if req.external_account_id:
        out["account_id"] = [req.external_account_id]
    if s is not None and s.birth_date:
        out["birth_date"] = [s.birth_date.isoformat()]
    return out


def runs_of(req_or_id, purpose: str = RunPurpose.COLLECT) -> list[SystemRun]:
    rid = req_or_id if isinstance(req_or_id, int) else req_or_id.id
    return list(db.session.scalars(sa.select(SystemRun).where(
        SystemRun.request_id == rid, SystemRun.purpose == purpose).order_by(SystemRun.id)))


_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'|\([^)]*\)=\([^)]*\)")


def safe_error(exc: BaseException) -> str:
    """What went wrong, for the DPO, without personal data (quoted values and key details are cut out)."""
    if isinstance(exc, ConnectorError):
        text = str(exc)
    elif isinstance(exc, sa.exc.DBAPIError):
        orig = getattr(exc, "orig", None)
        first = (str(orig).strip().splitlines() or [""])[0] if orig is not None else ""
        text = f"{type(orig).__name__ if orig is not None else type(exc).__name__}: {_QUOTED.sub('…', first)}"
    else:
        text = type(exc).__name__
    return text[:500]
