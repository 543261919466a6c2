"""What the back-office pages share: the request a URL names, the policy, the labels of the vocabulary."""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from ...extensions import db
# Labels of the vocabulary (dsar/labels.py): no internal code reaches a person (issue 18).
from ...labels import (ACTOR_LABELS, CHANNEL_LABELS, DETAIL_LABELS, DETAIL_VALUE_LABELS, DOC_KIND_LABELS,
                        EVENT_LABELS, METHOD_LABELS, OUTCOME_LABELS, RELATIONSHIP_LABELS, REVIEW_LABELS,
                        ROLE_LABELS, SUBJECT_KIND_LABELS, TASK_STATUS_LABELS, TYPE_LABELS, URGENCY_LABELS)
from ...models import DataRequest


def policy():
    return current_app.extensions["dsar_policy"]


def load_request(reference: str) -> DataRequest:
    """The request of a URL, or 404."""
    return db.first_or_404(sa.select(DataRequest).where(DataRequest.reference == reference))


def labels() -> dict:
    return dict(type_labels=TYPE_LABELS, subject_kind_labels=SUBJECT_KIND_LABELS, channel_labels=CHANNEL_LABELS,
                outcome_labels=OUTCOME_LABELS, urgency_labels=URGENCY_LABELS, method_labels=METHOD_LABELS,
                doc_kind_labels=DOC_KIND_LABELS, review_labels=REVIEW_LABELS, event_labels=EVENT_LABELS,
                role_labels=ROLE_LABELS, detail_labels=DETAIL_LABELS, task_status_labels=TASK_STATUS_LABELS,
                relationship_labels=RELATIONSHIP_LABELS, actor_labels=ACTOR_LABELS,
                detail_value_labels=DETAIL_VALUE_LABELS)
