"""The proof a representative sends to show their authority to act for someone else (GDPR art. 12(6),
policy ``identity.representative_proofs``).

One lookup, used by the status page, the intake form and the letters: they name the same proof.
"""
from __future__ import annotations

from flask import current_app

from ..models import DataRequest

#: Policy keys tried for each relationship, in order: a mandatary sends a mandate; an executor of
#: post-mortem directives, when the policy names no proof of their own, proves the death and their quality
#: like an heir (loi Informatique et Libertés art. 85).
_PROOF_KEYS = {"mandatary": ("mandatary", "mandate"), "executor": ("executor", "heir")}


def proof_for(relationship: str | None) -> dict | None:
    """The proof for ``relationship`` ({language: text}), or None when the policy names none."""
    if not relationship:
        return None
    proofs = current_app.extensions["dsar_policy"].identity.representative_proofs
    for key in _PROOF_KEYS.get(relationship, (relationship,)):
        if key in proofs:
            return dict(proofs[key])
    return None


def authority_proof(req: DataRequest) -> dict | None:
    """What the requester of ``req`` sends to prove their authority, from the policy."""
    rel = req.requester.relationship_to_subject if req.requester else None
    return proof_for(rel)
