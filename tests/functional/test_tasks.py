"""The professional's task page over HTTP: what it shows, what it records, what it refuses (policy art. 8.2)."""
from __future__ import annotations

import html as html_module
import io
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from dsar import lifecycle
from dsar.actors import Actor
from dsar.deadlines import days_left, legal_day
from dsar.extensions import db
from dsar.models import Event, ProfessionalTask, TaskOpening, utcnow
from dsar.models.enums import DocumentKind, Status, TaskStatus
from dsar.security import decrypt_secret
from dsar.services import routing
from dsar.tokens import make_token
from factories import make_staff
from hostile_files import hostile_corpus, valid_pdf, valid_png
from outbox_support import email_of, text_as_sent
from routing_support import answer_task_page, care_link, outbox, patient_request, professional, task_of, task_path

UA = {"User-Agent": "Mozilla/5.0 (pytest professional)"}
SUBJECT_EMAIL = "camille.private@example.test"
DETAILS = "Je voudrais une copie de mon dossier, notamment mes échanges sur mon traitement."


@pytest.fixture
def routed(app, policy):
    """A patient's access request, received two days ago, routed to their (French-speaking) doctor."""
    pro = professional(first_name="Hélène", last_name="Garnier", email="dr.garnier@example.test")
    care_link(pro, email=SUBJECT_EMAIL)
    req = patient_request(policy, email=SUBJECT_EMAIL, first_name="Camille", last_name="Fontaine",
                          received_at=utcnow() - timedelta(days=2), details=DETAILS,
                          phone="+33611223344", birth_date=date(1984, 2, 29))
    assert routing.auto_route(req, Actor.system()) == "routed_to_professional"
    db.session.commit()
    return req


def reload(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def html(response) -> str:
    """The page's text with entities decoded, so that assertions read like what a person sees."""
    return html_module.unescape(response.get_data(as_text=True))


def field_error(page: str, field: str) -> str:
    match = re.search(rf'id="task-{field}-error">(.*?)</p>', page, re.S)
    assert match, f"no error shown for {field}"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


# --- the page ---------------------------------------------------------------------------------------------------


def test_the_page_shows_what_is_needed_to_act_and_no_more(client, routed):
    task = task_of(routed)
    response = client.get(task_path(task), headers=UA)
    page = html(response)
    assert response.status_code == 200
    today = legal_day(utcnow())
    left = days_left(today, routed.due_date)
    for shown in (routed.reference, "Droit d'accès", "RGPD art. 15", "Camille Fontaine", DETAILS,
                  f"{left} jours restants", "Accuser réception", "Voir ma réponse avant l'envoi", "Demander une prolongation",
                  "Ce n'est pas mon patient", "Demander l'aide du DPO", "Ce que ce droit couvre ici"):
        assert shown in page, shown
    # Not needed to act: the subject's contact data and birth date, the requester's address, identity papers.
    for hidden in (SUBJECT_EMAIL, "+33611223344", "0611223344", "1984", "29/02", "identity", "pièce d'identité"):
        assert hidden not in page, hidden
    # Every form is keyboard-usable and labelled; no inline script or style (CSP).
    assert '<label for="task-message">' in page and '<label for="task-files">' in page and '<legend>' in page
    assert "<script" not in page and "style=" not in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_every_opening_is_recorded_without_moving_the_request(client, routed):
    task = task_of(routed)
    version = routed.version
    client.get(task_path(task), headers=UA)
    client.get(task_path(task), headers=UA)
    openings = db.session.scalars(sa.select(TaskOpening).where(TaskOpening.task_id == task.id)).all()
    assert [(o.ip, o.user_agent) for o in openings] == [("127.0.0.1", UA["User-Agent"])] * 2
    events = db.session.scalars(sa.select(Event).where(Event.request_id == routed.id, Event.action == "task_opened")).all()
    assert len(events) == 2 and events[0].actor_type == "professional" and events[0].ip == "127.0.0.1"
    assert events[0].user_agent == UA["User-Agent"] and events[0].details == {"task_id": task.id}
    assert reload(routed).version == version   # staff forms open elsewhere stay valid


def test_the_page_speaks_the_professionals_language(app, client, policy):
    pro = professional(email="dr.english@example.test", language="en")
    care_link(pro, email="english.patient@example.test")
    req = patient_request(policy, email="english.patient@example.test", received_at=utcnow() - timedelta(days=1))
    routing.auto_route(req, Actor.system())
    db.session.commit()
    path = task_path(task_of(req))
    assert "Data protection request" in html(client.get(path))
    assert "Demande relative aux données personnelles" in html(client.get(path + "?lang=fr"))
    email = outbox("task_assigned", to="dr.english@example.test")[0]
    assert email.language == "en" and email_of(email).subject.startswith("A patient's data protection request for you")


def test_the_email_to_the_professional_carries_the_link_and_nothing_of_the_patient(client, routed, smtp_server):
    message = outbox("task_assigned", to="dr.garnier@example.test")[0]
    assert message.language == "fr"
    sent = text_as_sent(message, smtp_server)
    body = "".join(email_of(message)) + sent
    assert routed.reference in body and "Droit d'accès" in body
    link = sent.split("http://localhost")[1].split()[0]
    assert link.startswith("/task/") and routing.task_from_token(link[len("/task/"):]).id == task_of(routed).id
    for secret in ("Camille", "Fontaine", SUBJECT_EMAIL, "traitement", "dossier, notamment"):
        assert secret not in body, secret


# --- links that open nothing ---------------------------------------------------------------------------------


def test_tampered_and_wrong_purpose_tokens_are_refused(client, routed):
    task = task_of(routed)
    token = routing.task_token(task)
    wrong_purpose = make_token("status", {"t": task.id, "n": decrypt_secret(task.link_secret)})
    for bad in (token[:-3] + "abc", token.replace(".", "", 1), wrong_purpose, "nothing"):
        response = client.get(f"/task/{bad}")
        page = html(response)
        assert response.status_code == 400
        assert "Ce lien n'est pas valide." in page and "Camille" not in page and routed.reference not in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TaskOpening)) == 0


def test_another_tasks_token_is_refused(app, client, policy, routed):
    other = patient_request(policy, email="other@example.test", first_name="Autre", last_name="Personne")
    routing.route_to_professional(other, Actor.system(), professional())
    db.session.commit()
    crossed = make_token("task", {"t": task_of(other).id, "n": decrypt_secret(task_of(routed).link_secret)})
    response = client.get(f"/task/{crossed}")
    assert response.status_code == 410
    assert "Personne" not in html(response) and "Camille" not in html(response)
    assert client.post(f"/task/{crossed}/acknowledge").status_code == 410
    assert reload(task_of(other)).acknowledged_at is None


def test_an_expired_link_says_how_to_get_a_new_one_and_shows_nothing(client, routed, smtp_server):
    task = task_of(routed)
    old = task_path(task)
    task.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    response = client.get(old)
    page = html(response)
    assert response.status_code == 410
    assert "Ce lien a expiré." in page and "M'envoyer un nouveau lien" in page
    assert "Camille" not in page and DETAILS[:20] not in page
    refused = db.session.scalars(sa.select(Event).where(Event.action == "task_link_refused")).all()
    assert [e.details["reason"] for e in refused] == ["expired"]
    assert client.post(old + "/acknowledge").status_code == 410

    renewed = client.post(old + "/renew")
    assert renewed.status_code == 200 and "Un nouveau lien vous a été envoyé" in html(renewed)
    resent = outbox("task_assigned", to="dr.garnier@example.test")
    assert len(resent) == 2 and email_of(resent[-1]).subject.startswith("Nouveau lien")
    new_path = "/task/" + text_as_sent(resent[-1], smtp_server).split("/task/")[1].split()[0]
    assert client.get(new_path).status_code == 200
    superseded = client.get(old)
    assert superseded.status_code == 410 and "Un lien plus récent vous a été envoyé" in html(superseded)
    assert client.post(old + "/renew").status_code == 410       # a superseded link renews nothing
    assert len(outbox("task_assigned")) == 2


def test_a_revoked_link_is_refused(client, routed):
    task = task_of(routed)
    path = task_path(task)
    routing.revoke_task(task, Actor.for_staff(make_staff("agent")))
    db.session.commit()
    response = client.get(path)
    assert response.status_code == 410 and "Ce lien a été retiré." in html(response) and "Camille" not in html(response)
    assert client.post(path + "/renew").status_code == 410


# --- the actions ----------------------------------------------------------------------------------------------


def test_acknowledge(client, routed):
    task = task_of(routed)
    response = client.post(task_path(task, "acknowledge"), headers=UA, follow_redirects=True)
    assert response.status_code == 200 and "IDOMED sait que vous prenez cette demande en charge" in html(response)
    task = reload(task)
    assert task.status == TaskStatus.ACKNOWLEDGED and task.acknowledged_at is not None
    event = db.session.scalars(sa.select(Event).where(Event.action == "acknowledge")).one()
    assert (event.actor_type, event.ip, event.user_agent) == ("professional", "127.0.0.1", UA["User-Agent"])
    again = client.post(task_path(task, "acknowledge"), follow_redirects=True)
    assert "Vous aviez déjà accusé réception" in html(again)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.action == "acknowledge")) == 1


def test_answer_with_files(app, client, routed):
    task = task_of(routed)
    response = answer_task_page(client, task, {
        "outcome": "granted", "message": "Voici la copie de vos données.",
        "files": [(io.BytesIO(valid_pdf()), "dossier.pdf", "application/pdf"),
                  (io.BytesIO(valid_png()), "capture.png", "image/png")],
    }, content_type="multipart/form-data", headers=UA)
    assert response.status_code == 303, html(response)
    req, task = reload(routed), reload(task)
    assert req.status == Status.ANSWERED and req.outcome == "granted"
    assert task.status == TaskStatus.ANSWERED and task.answered_at is not None and task.acknowledged_at is not None
    answers = [d for d in req.documents if d.kind == DocumentKind.ANSWER]
    assert sorted(d.mime for d in answers) == ["application/pdf", "image/png"]
    assert all(d.uploaded_by == "Hélène Garnier" for d in answers)
    answered = db.session.scalars(sa.select(Event).where(Event.action == "task_answered")).one()
    assert sorted(answered.details["document_ids"]) == sorted(d.id for d in answers)
    done = client.get(task_path(task))
    assert done.status_code == 200 and "Vous avez répondu à cette demande" in html(done)
    assert "Camille" not in html(done)
    twice = client.post(task_path(task, "answer"), data={"outcome": "granted", "message": "Again"})
    assert twice.status_code == 409 and "Vous avez déjà répondu" in html(twice)


def stored_files(app) -> list:
    from pathlib import Path

    root = Path(app.config["DSAR_FILES_DIR"])
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_refused_file_stores_nothing_and_says_why_next_to_the_field(app, client, routed):
    task = task_of(routed)
    bad = next(f for f in hostile_corpus() if f.expected_error == "type_not_accepted")
    response = client.post(task_path(task, "answer"), data={
        "outcome": "granted", "message": "Voici.",
        "files": [(io.BytesIO(valid_pdf()), "ok.pdf", "application/pdf"),
                  (io.BytesIO(bad.content), bad.filename, bad.declared_type)],
    }, content_type="multipart/form-data")
    page = html(response)
    assert response.status_code == 415
    assert "type de fichier" in field_error(page, "files")
    assert 'aria-describedby="task-files-hint task-files-error"' in page and 'aria-invalid="true"' in page
    req = reload(routed)
    assert req.status == Status.IN_PROGRESS and req.documents == [] and stored_files(app) == []
    assert reload(task).status == TaskStatus.OPEN


@pytest.mark.parametrize("data,field,message", [
    ({"outcome": "refused", "message": "Je refuse."}, "reasons", "Indiquez les motifs du refus"),
    ({"outcome": "partly_granted", "message": "En partie.", "reasons": "  "}, "reasons", "Indiquez les motifs du refus"),
    ({"message": "Sans décision."}, "outcome", "Choisissez une issue."),
    ({"outcome": "maybe", "message": "?"}, "outcome", "Choisissez une issue."),
    ({"outcome": "no_data", "message": "   "}, "message", "Ce champ est obligatoire."),
])
def test_an_incomplete_answer_is_refused_next_to_its_field(client, routed, data, field, message):
    task = task_of(routed)
    response = client.post(task_path(task, "answer"), data=data)
    assert response.status_code == 422
    assert message in field_error(html(response), field)
    assert 'class="task-error-summary" role="alert"' in html(response)
    assert reload(routed).status == Status.IN_PROGRESS


def test_an_answer_after_the_request_moved_on_is_a_conflict(app, client, routed):
    task = task_of(routed)
    path = task_path(task, "answer")
    lifecycle.withdraw(routed, Actor.for_requester(routed))      # the requester withdrew meanwhile
    db.session.commit()
    response = client.post(path, data={"outcome": "no_data", "message": "Rien."})
    assert response.status_code == 409
    assert "Cette demande a évolué depuis l'ouverture de cette page" in html(response)
    assert reload(routed).status == Status.WITHDRAWN and reload(routed).outcome is None


def test_an_answer_while_the_clock_is_paused_is_a_conflict(app, client, routed):
    lifecycle.ask_clarification(routed, Actor.for_staff(make_staff("agent")), "Which period?", today=legal_day(utcnow()))
    db.session.commit()
    task = task_of(routed)
    page = html(client.get(task_path(task)))
    assert "Seule une question sur l'identité suspend le délai" in page and "Voir ma réponse avant l'envoi" not in page
    response = client.post(task_path(task, "answer"), data={"outcome": "no_data", "message": "Rien."})
    assert response.status_code == 409 and "IDOMED attend une précision du demandeur" in html(response)


def test_ask_for_an_extension(client, routed):
    task = task_of(routed)
    empty = client.post(task_path(task, "extension"), data={"reason": ""})
    assert empty.status_code == 422 and "Indiquez pourquoi" in field_error(html(empty), "reason")
    response = client.post(task_path(task, "extension"), data={"reason": "Dossier de 15 ans à numériser."},
                           follow_redirects=True)
    assert response.status_code == 200 and "transmise au DPO" in html(response)
    assert "Vous avez déjà demandé une prolongation" in html(response)
    task, req = reload(task), reload(routed)
    assert task.extension_requested_at is not None and task.extension_reason == "Dossier de 15 ans à numériser."
    assert req.extended_at is None                     # staff decide
    alert = outbox("task_extension_requested")[0]
    assert alert.recipient == "dpo@example.test" and "numériser" not in email_of(alert).text
    again = client.post(task_path(task, "extension"), data={"reason": "Encore"})
    assert again.status_code == 409


def test_not_my_patient_hands_the_request_back_to_staff(client, routed):
    task = task_of(routed)
    path = task_path(task)
    unconfirmed = client.post(path + "/decline", data={"comment": "Inconnue"})
    assert unconfirmed.status_code == 422 and "Cochez la case" in field_error(html(unconfirmed), "confirm")
    response = client.post(path + "/decline", data={"confirm": "1", "comment": "Je ne connais pas cette personne."})
    assert response.status_code == 200 and "IDOMED traitera elle-même cette demande" in html(response)
    task, req = reload(task), reload(routed)
    assert task.status == TaskStatus.DECLINED and task.declined_at and task.token_hash is None
    assert req.status == Status.OPEN and req.handler == "staff"
    assert client.get(path).status_code == 410
    declined = db.session.scalars(sa.select(Event).where(Event.action == "task_declined")).one()
    assert declined.details["comment"] == "Je ne connais pas cette personne."
    alert = outbox("task_declined")
    assert [m.recipient for m in alert] == ["dpo@example.test"] and "« Pas mon patient »" in email_of(alert[0]).subject
    assert f"http://localhost/backoffice/requests/{routed.reference}" in email_of(alert[0]).text
    assert "Je ne connais pas" not in "".join(email_of(alert[0]))   # free text stays in the audit trail
    assert client.post(path + "/decline", data={"confirm": "1"}).status_code == 409


def test_ask_the_dpo_for_help(client, routed):
    task = task_of(routed)
    empty = client.post(task_path(task, "help"), data={"question": " "})
    assert empty.status_code == 422 and "Écrivez votre question." in field_error(html(empty), "question")
    question = "Dois-je inclure les comptes rendus de l'hôpital ?"
    response = client.post(task_path(task, "help"), data={"question": question}, follow_redirects=True)
    assert "Votre question a été transmise au DPO" in html(response)
    event = db.session.scalars(sa.select(Event).where(Event.action == "help_requested")).one()
    assert event.details["question"] == question
    alert = outbox("task_help_requested")[0]
    assert alert.recipient == "dpo@example.test" and "hôpital" not in email_of(alert).text + email_of(alert).html
    assert reload(task).help_requested_at is not None


def test_forms_need_the_csrf_token(make_app, policy):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        pro = professional()
        care_link(pro, email="csrf@example.test")
        req = patient_request(app.extensions["dsar_policy"], email="csrf@example.test")
        routing.auto_route(req, Actor.system())
        db.session.commit()
        path = task_path(task_of(req), "acknowledge")
        response = app.test_client().post(path)
        assert response.status_code == 400
        assert db.session.get(ProfessionalTask, task_of(req).id).acknowledged_at is None


def test_renewing_is_rate_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, DSAR_RATE_LIMIT_TASK_RENEW="2 per hour")
    with app.app_context():
        client = app.test_client()
        statuses = [client.post("/task/not-a-token/renew").status_code for _ in range(3)]
        assert statuses == [400, 400, 429]


# --- staff are told of the professional's answer (issue 18), never of its content (policy art. 8.2) --------------


@pytest.mark.parametrize("assigned", [False, True], ids=["dpo-mailbox", "assignee"])
def test_staff_are_told_the_outcome_and_never_the_answer(app, client, routed, mailbox, run_jobs, assigned):
    to = "dpo@example.test"
    if assigned:
        staff = make_staff("agent", email="agent.suivi@example.test", name="Alex Suivi")
        routed.assignee_id = staff.id
        db.session.commit()
        to = "agent.suivi@example.test"
    task = task_of(routed)
    secret_text = "Vos comptes rendus de consultation sont joints, avec mes remarques."
    response = answer_task_page(client, task, {
        "outcome": "partly_granted", "message": secret_text, "reasons": "Notes personnelles du praticien exclues.",
        "files": [(io.BytesIO(valid_pdf()), "compte-rendu-cardiologie.pdf", "application/pdf")],
    }, content_type="multipart/form-data", headers=UA)
    assert response.status_code == 303, html(response)
    run_jobs()
    mailbox.wait_for(1)
    sent = [m for m in mailbox.to(to)]
    notices = [m for m in sent if routed.reference in m["Subject"] and "répondu" in m["Subject"]]
    assert len(notices) == 1, [m["Subject"] for m in mailbox.messages]
    body = notices[0]["Subject"] + mailbox.text(notices[0]) + mailbox.html(notices[0])
    assert routed.reference in body and "Accordée en partie" in body and "Hélène Garnier" in body
    assert str(legal_day(utcnow()).year) in body
    for secret in (secret_text, "comptes rendus", "compte-rendu-cardiologie", "Notes personnelles", "Camille",
                   SUBJECT_EMAIL):
        assert secret not in body, secret
    # The request page shows that the professional answered: the day and the outcome.
    if assigned:
        return
    from backoffice_support import signed_in_client

    dpo_client, _ = signed_in_client(app, "dpo", email="dpo.suivi@example.test")
    page = html(dpo_client.get(f"/backoffice/requests/{routed.reference}"))
    assert f"task-{task.id}-answered" in page and "Accordée en partie" in page


@pytest.mark.parametrize("title, greeting", [("Docteur", "Bonjour Docteur Garnier,"), (None, "Bonjour Hélène Garnier,")])
def test_the_professional_is_greeted_as_a_french_letter_would(app, policy, title, greeting):
    pro = professional(first_name="Hélène", last_name="Garnier", email="dr.garnier@example.test", title=title)
    care_link(pro, email=SUBJECT_EMAIL)
    req = patient_request(policy, email=SUBJECT_EMAIL, first_name="Camille", last_name="Fontaine")
    assert routing.auto_route(req, Actor.system()) == "routed_to_professional"
    db.session.commit()
    message = outbox("task_assigned", to="dr.garnier@example.test")[0]
    assert email_of(message).text.startswith(greeting) and greeting in email_of(message).html


# --- the answer is seen before it goes: preview, then confirm (issue 18) ----------------------------------------


def _counts():
    from dsar.models import Document, OutboxMessage

    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in (Event, OutboxMessage, Document))


def _hidden(page: str) -> dict:
    return {name: html_module.unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="(preview|outcome|message|reasons)" value="([^"]*)"', page)}


def test_the_preview_shows_the_letter_and_the_files_and_records_nothing(app, client, routed):
    task = task_of(routed)
    before = _counts()
    preview = client.post(task_path(task, "answer"), data={
        "outcome": "granted", "message": "Voici la copie de vos données.",
        "files": [(io.BytesIO(valid_pdf()), "dossier-2024.pdf", "application/pdf")],
    }, content_type="multipart/form-data", headers=UA)
    page = html(preview)
    assert preview.status_code == 200 and "Vérifiez votre réponse avant son envoi" in page
    assert "Rien n'a encore été envoyé" in page and "dossier-2024.pdf" in page
    assert re.search(r'<img class="document-page" src="data:image/png;base64,', page)   # the letter, drawn
    assert SUBJECT_EMAIL not in page
    db.session.expire_all()
    assert _counts() == before and reload(routed).status == Status.IN_PROGRESS
    assert reload(task).status in (TaskStatus.OPEN, TaskStatus.ACKNOWLEDGED)
    fields = _hidden(page)
    assert set(fields) == {"preview", "outcome", "message", "reasons"}
    done = client.post(task_path(task, "answer/confirm"), data=fields, headers=UA)
    assert done.status_code == 303
    req = reload(routed)
    assert req.status == Status.ANSWERED and [d.display_name for d in req.documents if d.kind == "answer"] == ["dossier-2024.pdf"]


def test_a_stale_or_changed_preview_is_refused_and_nothing_is_sent(app, client, routed):
    task = task_of(routed)
    preview = client.post(task_path(task, "answer"), data={"outcome": "no_data", "message": "Rien."}, headers=UA)
    fields = _hidden(html(preview))
    before = _counts()
    changed = client.post(task_path(task, "answer/confirm"), data=dict(fields, message="Autre chose."), headers=UA)
    assert changed.status_code == 409 and "Cet aperçu n'est plus à jour" in html(changed)
    forged = client.post(task_path(task, "answer/confirm"), data=dict(fields, preview="forged"), headers=UA)
    assert forged.status_code == 409
    # The request moved meanwhile (a note by staff moves its version): the preview no longer stands.
    lifecycle.add_note(routed, Actor.for_staff(make_staff("agent")), "Vu.")
    db.session.commit()
    stale = client.post(task_path(task, "answer/confirm"), data=fields, headers=UA)
    assert stale.status_code == 409 and "Rien n'a été envoyé" in html(stale)
    db.session.expire_all()
    assert _counts()[1:] == before[1:] and reload(routed).status == Status.IN_PROGRESS


def test_the_reasons_field_says_one_thing(client, routed):
    page = html(client.get(task_path(task_of(routed))))
    label = re.search(r'<label for="task-reasons">(.*?)</label>', page, re.S).group(1)
    assert "obligatoire en cas de refus total ou partiel" in label and "facultatif" not in label
    hint = re.search(r'id="task-reasons-hint">(.*?)</p>', page, re.S).group(1)
    assert "Obligatoire" not in hint and "facultatif" not in hint
