"""Who the law reaches (issue 13): every professional linked to the patient (GDPR art. 19), a deceased
patient's heirs and partners (CSP L.1110-4 V), a minor's objection (CSP L.1111-5), the professional's record
in an erasure (policy art. 12). Through the services, the task page and the letters read back as text."""
from __future__ import annotations

import html as html_module
import io
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from dsar.actors import Actor
from dsar.errors import IllegalTransition, InvalidInput
from dsar.extensions import db
from dsar.models import DataRequest, Document, OutboxMessage, utcnow
from dsar.models.enums import DocumentKind, Status
from dsar.services import actions, checklist, fulfilment, intake, routing
from fulfilment_support import add_answer_files, pdf_text, read_stored, staff_actor
from hostile_files import valid_pdf
from routing_support import care_link, patient_request, professional, task_of, task_path

RECEIVED = utcnow() - timedelta(days=3)


def text(response) -> str:
    return html_module.unescape(response.get_data(as_text=True))


def letter_text(req: DataRequest) -> str:
    letters = [d for d in req.documents if d.kind == DocumentKind.LETTER]
    return pdf_text(read_stored(letters[-1]))


# --- GDPR art. 19: every professional linked to the patient ---------------------------------------------------


def test_a_second_professional_linked_to_the_patient_gets_the_art19_notice(app, policy, run_jobs, mailbox):
    _, dpo = staff_actor()
    first = professional(first_name="Hélène", last_name="Garnier", email="dr.garnier@example.test")
    second = professional(first_name="Marc", last_name="Roux", email="dr.roux@example.test")
    care_link(first, email="camille@example.test")
    # The patient changed doctors: the data were shared with the second one too (care link ended last year).
    care_link(second, email="camille@example.test", active=False, ended_on=date(2025, 6, 30))
    req = patient_request(policy, type="erasure", email="camille@example.test", received_at=RECEIVED)
    assert routing.auto_route(req, Actor.system()) == "routed_to_professional"   # to the one in charge now
    actions.answer(req, dpo, outcome="granted", message="Vos données ont été effacées.")
    db.session.commit()
    pro_tasks = [t for t in req.recipient_notifications if t.recipient_key == "professional_users"]
    assert sorted((t.professional_id, t.contact) for t in pro_tasks) == sorted(
        [(first.id, "dr.garnier@example.test"), (second.id, "dr.roux@example.test")])
    # Telling the first is not enough to close (art. 19: each recipient, unless impossible or disproportionate).
    for t in req.recipient_notifications:
        if t.professional_id == first.id:
            fulfilment.notify_recipient(req, dpo, t.id)
        elif t.professional_id is None:
            fulfilment.close_recipient_impossible(req, dpo, t.id, reason="Sans objet pour ce test.")
    with pytest.raises(IllegalTransition):
        actions.close(req, dpo)
    to_second = next(t for t in pro_tasks if t.professional_id == second.id)
    fulfilment.notify_recipient(req, dpo, to_second.id, message="Merci d'effacer aussi votre copie.")
    db.session.commit()
    sent = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.template == "recipient_notification")).all()
    assert sorted(m.recipient for m in sent) == ["dr.garnier@example.test", "dr.roux@example.test"]
    # The requester may have the list (art. 19, last sentence): both professionals are named.
    link = fulfilment.send_letter(req, dpo, "recipients_list")
    listed = pdf_text(read_stored(db.session.get(Document, link.files[0]["document_id"])))
    assert "Hélène Garnier" in listed and "Marc Roux" in listed
    actions.close(req, dpo)
    assert req.status == Status.CLOSED


# --- policy art. 12: the professional's record is handed over, not erased now ------------------------------


def test_the_erasure_letter_says_the_health_data_go_to_the_professional_not_erased_now(app, policy):
    _, dpo = staff_actor()
    pro = professional(first_name="Hélène", last_name="Garnier", email="dr.garnier@example.test",
                       contract_ended_on=None)
    care_link(pro, email="lea@example.test")
    req = patient_request(policy, type="erasure", email="lea@example.test", received_at=RECEIVED)
    actions.answer(req, dpo, outcome="granted", message="Effacement effectué.")
    db.session.commit()
    planned = {i["category"]: i for i in req.erasure_decision.items}
    assert planned["conversations"]["action"] == "hand_over_to_professional"
    assert planned["patient_record_never_logged_in"]["action"] == "hand_over_to_professional"
    assert planned["conversations"]["responsible"] == ["professional"]
    letter = letter_text(req)
    assert "Non effacées par la plateforme" in letter and "dossier de votre professionnel de santé" in letter
    assert "Données sensibles — conversations" in letter


# --- CSP L.1110-4 V: a deceased patient's heirs and partners ---------------------------------------------


def deceased_patient_request(relationship: str, type_: str = "access"):
    return intake.submit_request(
        type=type_, channel="post", identity_method="in_person", activities=["application"],
        subject={"kind": "patient", "first_name": "Paul", "last_name": "Martin", "email": "paul@example.test",
                 "deceased": True},
        requester={"acting_for": "other", "relationship": relationship, "first_name": "Anne", "last_name": "Martin",
                   "email": "anne@example.test"},
        actor=staff_actor()[1],
    )


@pytest.mark.parametrize("relationship", ["heir", "cohabitant", "pacs_partner"])
def test_an_heir_or_partner_gets_the_health_information_scope_of_l1110_4(app, policy, relationship):
    _, dpo = staff_actor()
    req = deceased_patient_request(relationship)
    db.session.commit()
    standing = fulfilment.post_mortem_standing(req)
    assert standing.allowed and "L.1110-4 V" in standing.scope and "L.1110-4 V" in standing.reason
    # An heir keeps, for the data that are not health information, what art. 85 II 1° gives (the estate).
    assert ("85 II 1°" in standing.scope) == (relationship == "heir")
    # Unless the deceased objected: a step of the checklist, required before the answer.
    keys = [s.step_key for s in req.steps]
    assert "check_deceased_objection" in keys
    add_answer_files(req, dpo, policy)
    with pytest.raises(IllegalTransition) as err:
        for step in req.steps:
            if step.step_key != "check_deceased_objection":
                checklist.complete_step(req, dpo, step.id)
        actions.answer(req, dpo, outcome="granted", message="Voici les informations demandées.")
    assert err.value.code == "step_open" and "L.1110-4 V" in str(err.value)
    step = next(s for s in req.steps if s.step_key == "check_deceased_objection")
    checklist.complete_step(req, dpo, step.id, note="Aucune opposition au dossier.")
    actions.answer(req, dpo, outcome="granted", message="Voici les informations demandées.")
    db.session.commit()
    letter = letter_text(req)
    assert "causes de la mort" in letter and "défendre la mémoire du défunt" in letter
    assert "L.1110-4 V" in letter


@pytest.mark.parametrize("relationship", ["heir", "pacs_partner"])
def test_directives_excluding_heirs_are_the_deceased_objection(app, policy, relationship):
    """CSP L.1110-4 V "sauf volonté contraire": registered directives (LIL art. 85) that exclude the heirs."""
    from factories import make_request

    _, dpo = staff_actor()
    own = make_request(policy=policy, type="post_mortem_directive", subject_kind="patient", first_name="Paul",
                       last_name="Martin", email="paul@example.test")
    fulfilment.record_directive(own, dpo, action="register", instructions="Ne rien communiquer.", heirs_may_act=False)
    db.session.flush()
    req = deceased_patient_request(relationship)
    standing = fulfilment.post_mortem_standing(req)
    assert standing.allowed is False and "L.1110-4 V" in standing.reason and standing.scope is None
    with pytest.raises(InvalidInput) as err:
        actions.answer(req, dpo, outcome="granted", message="Voici.")
    assert err.value.code == "post_mortem_limit"


def test_a_partner_has_no_other_right_after_death(app, policy):
    _, dpo = staff_actor()
    req = deceased_patient_request("pacs_partner", type_="erasure")
    db.session.commit()
    standing = fulfilment.post_mortem_standing(req)
    assert not standing.allowed and standing.role == "pacs_partner"
    with pytest.raises(InvalidInput) as err:
        actions.answer(req, dpo, outcome="granted", message="Effacé.")
    assert err.value.code == "post_mortem_limit"


def test_the_new_relationships_are_offered_with_their_proof(app, policy):
    req = deceased_patient_request("cohabitant")
    assert req.subject.deceased and req.requester.relationship_to_subject == "cohabitant"
    assert "concubinage" in intake.authority_proof(req)["fr"]
    with pytest.raises(InvalidInput):   # a partner acts only for a person who has died
        intake.submit_request(
            type="access", channel="post", identity_method="in_person",
            subject={"kind": "patient", "first_name": "Paul", "last_name": "Martin", "deceased": False},
            requester={"acting_for": "other", "relationship": "pacs_partner", "first_name": "Anne",
                       "last_name": "Martin", "email": "anne@example.test"},
            actor=staff_actor()[1])


# --- CSP L.1111-5: a minor may keep care secret from their parents -------------------------------------


def test_a_parents_request_for_a_minors_record_asks_the_professional_about_the_minors_objection(app, client, policy):
    pro = professional(first_name="Hélène", last_name="Garnier", email="dr.garnier@example.test")
    care_link(pro, email="leo@example.test")
    born = date.today().replace(year=date.today().year - 15)
    req = intake.submit_request(
        type="access", channel="post", identity_method="in_person", activities=["application"], medical_record=True,
        subject={"kind": "patient", "first_name": "Léo", "last_name": "Dupont", "email": "leo@example.test",
                 "birth_date": born.isoformat()},
        requester={"acting_for": "other", "relationship": "parent", "first_name": "Jeanne", "last_name": "Dupont",
                   "email": "jeanne@example.test"},
        actor=staff_actor()[1])
    db.session.commit()
    assert checklist.subject_states(req) == ("minor",)
    assert "check_minor_objection" in [s.step_key for s in req.steps]
    # Policy art. 5: "Contrôle de la majorité des Patients / recueil de l'accord du représentant légal" — the professional.
    assert policy.activity("application").responsibilities.minors == {"professional": "in_charge"}
    task = task_of(req)
    page = text(client.get(task_path(task)))
    assert "le mineur ne s'est pas opposé" in page and "L.1111-5" in page
    step = next(s for s in req.steps if s.step_key == "check_minor_objection")
    res = client.post(task_path(task, "step"), data={"step_id": str(step.id), "note": "Le mineur ne s'y oppose pas."})
    assert res.status_code == 303
    db.session.expire_all()
    step = db.session.get(type(step), step.id)
    assert step.done_at is not None and step.done_by == "Hélène Garnier" and "ne s'y oppose pas" in step.note


def test_no_minor_step_for_an_adult_or_for_a_request_about_the_client_file(app, policy):
    adult = intake.submit_request(
        type="access", channel="post", identity_method="in_person", activities=["application"],
        subject={"kind": "patient", "first_name": "Léa", "last_name": "Dupont", "email": "lea@example.test",
                 "birth_date": "1990-01-01"},
        requester=None, actor=staff_actor()[1])
    assert "check_minor_objection" not in [s.step_key for s in adult.steps]
    assert checklist.subject_states(adult) == ()


# --- one proof-of-authority lookup (issue 15) ----------------------------------------------------------------


@pytest.mark.parametrize("relationship, policy_key", [("executor", "heir"), ("mandatary", "mandatary")])
def test_the_status_page_and_the_letter_name_the_same_proof_of_authority(app, client, policy, monkeypatch,
                                                                         relationship, policy_key):
    """A representative sends two documents: their identity and a proof of authority. The status page and the
    letter asking for them used to look the proof up twice, differently: with a policy that names no proof for
    executors (they prove the death and their quality like an heir), the letter named none; with a policy that
    names one for mandataries, the letter named the "mandate" one instead. Both now name the same proof."""
    from public_support import web_request

    proofs = policy.identity.representative_proofs
    monkeypatch.delitem(proofs, "executor")
    monkeypatch.setitem(proofs, "mandatary", {"fr": "Procuration notariée du mandant", "en": "Notarised power of attorney"})
    deceased = relationship == "executor"
    req, token = web_request(
        subject={"kind": "patient", "first_name": "Paul", "last_name": "Martin", "email": "paul@example.test",
                 "deceased": deceased},
        requester={"acting_for": "other", "relationship": relationship, "first_name": "Anne", "last_name": "Martin",
                   "email": "anne@example.test"})
    assert intake.required_document_kinds(req) == ["identity", "authority"]
    proof = proofs[policy_key]["fr"]

    page = " ".join(text(client.get(f"/status/{token}", headers={"Accept-Language": "fr"})).split())
    assert proof in page

    _, dpo = staff_actor()
    fulfilment.send_letter(req, dpo, "identity_requested")
    db.session.commit()
    assert proof in " ".join(letter_text(req).split())
