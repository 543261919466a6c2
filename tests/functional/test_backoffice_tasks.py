"""Staff re-send or withdraw a professional's task link from the request page (policy art. 8.2)."""
import re

import sqlalchemy as sa

from backoffice_support import signed_in_client
from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import Event, ProfessionalTask
from dsar.models.enums import Status, TaskStatus
from dsar.services import routing
from factories import make_staff
from routing_support import patient_request, professional


def _routed(policy):
    req = patient_request(policy, email="patient.bo@example.test")
    routing.route_to_professional(req, Actor.for_staff(make_staff("dpo")), professional(email="dr.bo@example.test"))
    db.session.commit()
    return req.reference


def _task(reference):
    db.session.expire_all()
    return db.session.scalars(sa.select(ProfessionalTask)).one()


def _version(html):
    return re.search(r'tasks/\d+/resend".*?name="version" value="(\d+)"', html, re.S).group(1)


def test_staff_send_a_new_link_and_the_old_one_stops_working(app, policy, mailbox, run_jobs):
    reference = _routed(policy)
    task = _task(reference)
    old_token = routing.task_token(task)
    client, _ = signed_in_client(app, "agent")
    page = client.get(f"/backoffice/requests/{reference}").get_data(as_text=True)
    assert "Envoyer un nouveau lien" in page or "Send a new link" in page
    r = client.post(f"/backoffice/requests/{reference}/tasks/{task.id}/resend", data={"version": _version(page)})
    assert r.status_code == 302
    run_jobs()
    task = _task(reference)
    assert routing.task_token(task) != old_token
    assert app.test_client().get(f"/task/{old_token}").status_code == 410
    sent = db.session.scalars(sa.select(Event).where(Event.action == "task_link_sent")).all()
    assert [e.details["reason"] for e in sent] == ["assigned", "resent"]


def test_staff_withdraw_the_task_and_the_request_comes_back(app, policy):
    reference = _routed(policy)
    task = _task(reference)
    client, _ = signed_in_client(app, "dpo")
    page = client.get(f"/backoffice/requests/{reference}").get_data(as_text=True)
    r = client.post(f"/backoffice/requests/{reference}/tasks/{task.id}/revoke", data={"version": _version(page)})
    assert r.status_code == 302
    task = _task(reference)
    assert task.status == TaskStatus.CANCELLED and task.request.status == Status.OPEN
    assert task.request.handler == "staff"


def test_a_stale_page_or_an_auditor_cannot_touch_the_link(app, policy):
    reference = _routed(policy)
    task = _task(reference)
    client, _ = signed_in_client(app, "agent")
    r = client.post(f"/backoffice/requests/{reference}/tasks/{task.id}/resend", data={"version": "1"})
    assert r.status_code == 409
    auditor, _ = signed_in_client(app, "auditor")
    page = auditor.get(f"/backoffice/requests/{reference}").get_data(as_text=True)
    assert "/resend" not in page
    assert auditor.post(f"/backoffice/requests/{reference}/tasks/{task.id}/revoke",
                        data={"version": str(task.request.version)}).status_code == 403
    assert _task(reference).status == TaskStatus.OPEN
