"""A request is closed only once its follow-up obligations are met (GDPR art. 19, policy art. 8.2)."""
import pytest

from dsar.errors import IllegalTransition
from dsar.extensions import db
from dsar.models.enums import Status
from dsar.services import actions, fulfilment
from fulfilment_support import new_request, staff_actor


def test_an_erasure_cannot_be_closed_while_recipients_remain_to_be_told(app, policy):
    _, dpo = staff_actor("dpo")
    req = new_request(policy, type="erasure", subject_kind="professional", activities=["client_file"])
    actions.answer(req, dpo, outcome="granted", message="Your data has been erased.")
    db.session.flush()
    tasks = list(req.recipient_notifications)
    assert tasks, "an erasure opens one art. 19 task per recipient (policy art. 11)"
    with pytest.raises(IllegalTransition) as err:
        actions.close(req, dpo)
    assert err.value.code == "obligations_pending" and req.status == Status.ANSWERED
    for t in tasks:
        fulfilment.close_recipient_impossible(req, dpo, t.id, reason="Processor contract ended in 2025")
    actions.close(req, dpo)
    assert req.status == Status.CLOSED


def test_a_refused_request_closes_without_follow_up(app, policy):
    _, dpo = staff_actor("dpo")
    req = new_request(policy, type="erasure", subject_kind="professional", activities=["client_file"])
    actions.answer(req, dpo, outcome="refused", message="We must keep these records.", reasons="Legal obligation (art. 17(3)(b))")
    actions.close(req, dpo)
    assert req.status == Status.CLOSED
