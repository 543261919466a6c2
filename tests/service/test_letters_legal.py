"""Letters read back as text (issue 13 items 1, 9, 10, 11): what they must and must not say.

Each letter is rendered to PDF by the real pipeline (WeasyPrint) and read back with pypdf:
- no invalidated safeguard is ever stated as the controller's: a policy relying on one blocks every letter (409);
- the right signatory: the joint controllers when the professional in charge answered (policy art. 5, 8.2,
  GDPR art. 26), the DPO only when the policy names a DPO contact (GDPR art. 37(7)), else the controller;
- the right deadline wording: an extended request's acknowledgement gives the extended date as such
  (GDPR art. 12(3)); a clarification says exactly what happens to the deadline (décret n° 2019-536 art. 77,
  GDPR art. 12(3)); answering is free of charge (art. 12(5)); an art. 12(5) refusal states its grounds.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from dsar import lifecycle
from dsar.errors import Conflict
from dsar.extensions import db
from dsar.models import DataRequest, Document, Event
from dsar.services.fulfilment.letters import render_letter
from dsar.services import actions
from fulfilment_support import add_answer_files, new_request, pdf_text, staff_actor

IDOMED = Path(__file__).resolve().parents[2] / "workflows" / "idomed.yaml"
DPO_LINE_FR = "Délégué à la protection des données"


def _policy_file(tmp_path, letter_ready_policy, **changes) -> str:
    doc = yaml.safe_load(Path(letter_ready_policy).read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        node = doc
        *path, last = dotted.split(".")
        for key in path:
            node = node[key]
        node[last] = value
    out = tmp_path / "policy.yaml"
    out.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(out)


# --- the DPO contact and the signatory (item 11) ---------------------------------------------------------


def test_without_a_dpo_contact_no_address_is_called_the_dpos_and_the_controller_signs(app, policy):
    # The seed gives no DPO contact; contact@idomed.fr is for lost login devices (policy art. 10).
    req = new_request(policy, type="rectification", subject_kind="professional", clock_started_on=date(2026, 3, 5))
    text = pdf_text(render_letter("acknowledgement", req, "fr"))
    assert "contact@idomed.fr" in text                       # the controller's contact, as such
    assert DPO_LINE_FR not in text and "délégué" not in text.lower()
    # The signature is the controller's, right after the closing formula.
    assert "salutations distinguées. IDOMED Pour toute question sur ce courrier : contact@idomed.fr" in text


def test_with_a_dpo_contact_the_dpo_signs(make_app, tmp_path, letter_ready_policy):
    app = make_app(DSAR_POLICY=_policy_file(tmp_path, letter_ready_policy, **{
        "controller.dpo.email": "dpo@idomed.example", "controller.dpo.name": "Camille Martin"}))
    with app.app_context():
        policy = app.extensions["dsar_policy"]
        req = new_request(policy, type="rectification", subject_kind="professional", clock_started_on=date(2026, 3, 5))
        text = pdf_text(render_letter("acknowledgement", req, "fr"))
        en = pdf_text(render_letter("acknowledgement", req, "en"))
    assert f"{DPO_LINE_FR} : Camille Martin — dpo@idomed.example" in text   # French spacing (issue 18)
    assert "Le délégué à la protection des données (IDOMED)" in text
    assert "dpo@idomed.example, en rappelant la référence" in text
    assert "The data protection officer of IDOMED" in en


def test_an_answer_by_the_professional_in_charge_is_signed_as_the_joint_controllers(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="access", subject_kind="patient", handler="professional",
                      clock_started_on=date(2026, 3, 5))
    add_answer_files(req, actor, policy)
    actions.answer(req, actor, outcome="granted", message="Voici votre dossier.")
    text = pdf_text(render_letter("answer_access", req, "fr"))
    assert "Pour les responsables conjoints : le professionnel de santé qui vous prend en charge et IDOMED" in text
    assert "Le délégué à la protection des données (IDOMED)" not in text
    en = pdf_text(render_letter("answer_access", req, "en"))
    assert "For the joint controllers: the health professional in charge of your care and IDOMED" in en


# --- contradictions block letters (item 11) --------------------------------------------------------------


def test_a_policy_relying_on_the_privacy_shield_sends_no_letter(make_app):
    # workflows/idomed.yaml as written: Privacy Shield (CJEU C-311/18) and "health data never leave the EU"
    # beside Tokbox video calls that may go to the US. Answering is a 409 and nothing is written.
    app = make_app(DSAR_POLICY=str(IDOMED))
    with app.app_context():
        policy = app.extensions["dsar_policy"]
        _, actor = staff_actor()
        req = new_request(policy, type="rectification", subject_kind="professional", clock_started_on=date(2026, 3, 5))
        db.session.commit()
        with pytest.raises(Conflict) as err:
            actions.answer(req, actor, outcome="granted", message="Corrigé.")
        db.session.rollback()
        assert err.value.status_code == 409 and err.value.code == "policy_contradiction"
        assert "recipients.client_file.sendgrid.transfers[0].safeguard" in err.value.params["keys"]
        assert "recipients.application.tokbox.receives_health_data" in err.value.params["keys"]
        fresh = db.session.get(DataRequest, req.id)
        assert fresh.status == "open" and fresh.outcome is None
        assert not db.session.scalars(sa.select(Document).where(Document.request_id == req.id)).all()


def test_the_access_letter_names_no_invalidated_safeguard(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="access", subject_kind="patient", clock_started_on=date(2026, 3, 5))
    add_answer_files(req, actor, policy)
    actions.answer(req, actor, outcome="granted", message="Voici votre dossier.")
    for lang in ("fr", "en"):
        text = pdf_text(render_letter("answer_access", req, lang))
        assert "Privacy Shield" not in text and "C-311/18" not in text and "Schrems" not in text
        assert "Data Privacy Framework" in text


# --- deadline wording (items 1, 10, 11) ------------------------------------------------------------------


def test_the_acknowledgement_of_an_extended_request_gives_the_extended_date_as_such(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="access", subject_kind="professional", clock_started_on=date(2026, 3, 5))
    lifecycle.extend(req, actor, policy, "Trois services à interroger.", today=date(2026, 3, 20))
    text = pdf_text(render_letter("acknowledgement", req, "fr"))
    # 5 March + 3 months = Friday 5 June 2026; the one-month date was 7 April (Easter Monday rolled).
    assert "au plus tard le 5 juin 2026" in text and "7 avril 2026" in text
    assert "prolongé de 2 mois supplémentaires" in text
    # Before: "au plus tard le 5 juin 2026 : un mois à compter de la réception de votre demande complète".
    assert "5 juin 2026 : un mois" not in text.replace("\n", " ")
    assert "pourra être prolongé" not in text.replace("\n", " ")
    en = pdf_text(render_letter("acknowledgement", req, "en"))
    en = en.replace("\n", " ")
    assert "June 5, 2026" in en and "extended by 2 further months" in en and "June 5, 2026 at the latest: one month" not in en


def test_the_acknowledgement_says_answering_is_free(app, policy):
    req = new_request(policy, type="access", subject_kind="professional", clock_started_on=date(2026, 3, 5))
    assert "gratuite (RGPD art. 12(5))" in pdf_text(render_letter("acknowledgement", req, "fr")).replace("\n", " ")
    assert "free of charge (GDPR art. 12(5))" in pdf_text(render_letter("acknowledgement", req, "en")).replace("\n", " ")


@pytest.mark.parametrize(("kind", "asked_on", "expected_fr", "expected_en"), [
    # Clock started 1 March 2026, due Wednesday 1 April.
    pytest.param("identity", date(2026, 3, 10), "suspendu à compter du 10 mars 2026", "suspended from March 10, 2026",
                 id="identity: suspended (décret n° 2019-536 art. 77)"),
    pytest.param("scope", date(2026, 3, 10), "continue de courir", "keeps running",
                 id="scope: the period keeps running (GDPR art. 12(3))"),
    pytest.param("identity", date(2026, 4, 10), "Notre réponse était due le 1 avril 2026",
                 "Our answer was due on April 1, 2026", id="after the due date: it does not move"),
])
def test_the_clarification_letter_says_what_happens_to_the_deadline(app, policy, kind, asked_on, expected_fr, expected_en):
    _, actor = staff_actor()
    req = new_request(policy, type="access", subject_kind="professional",
                      received_at=datetime(2026, 3, 1, 9, tzinfo=timezone.utc), clock_started_on=date(2026, 3, 1))
    lifecycle.ask_clarification(req, actor, "Quel compte ?", today=asked_on, policy=policy, kind=kind)
    fr = pdf_text(render_letter("clarification", req, "fr")).replace("\n", " ")
    en = pdf_text(render_letter("clarification", req, "en")).replace("\n", " ")
    assert expected_fr in fr and expected_en in en
    if kind == "scope":
        assert "1 avril 2026" in fr and "suspendu" not in fr


def test_a_clarification_email_says_what_happens_to_the_deadline(app, policy, mailbox, run_jobs):
    # Through the service, as the back-office and the API call it: a scope question, the clock runs.
    _, actor = staff_actor()
    req = new_request(policy, type="access", subject_kind="professional", clock_started_on=date(2026, 3, 5))
    import time_machine

    with time_machine.travel(datetime(2026, 3, 10, 9, tzinfo=timezone.utc), tick=False):
        actions.ask_clarification(req, actor, question="Quel compte ?", kind="scope")
    db.session.commit()
    run_jobs()
    body = mailbox.wait_for(1)[-1].get_body(("plain",)).get_content()
    assert "continue de courir" in body and "7 avril 2026" in body and "suspendu" not in body


# --- refusals (items 9, 10) ------------------------------------------------------------------------------


def test_an_unfounded_or_excessive_refusal_records_and_states_its_grounds(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="access", subject_kind="professional", clock_started_on=date(2026, 3, 5))
    with pytest.raises(Exception) as err:
        actions.refuse(req, actor, reasons="Demande répétée.", unfounded_or_excessive="excessive",
                       unfounded_or_excessive_grounds="  ")
    assert getattr(err.value, "status_code", None) == 422 and req.status == "open"
    actions.refuse(req, actor, reasons="Demande répétée.", unfounded_or_excessive="excessive",
                   unfounded_or_excessive_grounds="Sixième demande identique en deux mois, toutes déjà satisfaites.")
    assert req.unfounded_or_excessive == "excessive" and req.unfounded_or_excessive_by == actor.label
    ev = db.session.scalars(sa.select(Event).where(Event.request_id == req.id, Event.action == "refuse")).one()
    assert ev.details["unfounded_or_excessive"] == "excessive" and "Sixième" in ev.details["grounds"]
    text = pdf_text(render_letter("refusal", req, "fr")).replace("\n", " ")
    assert "RGPD art. 12(5)" in text and "excessive" in text
    assert "Sixième demande identique en deux mois, toutes déjà satisfaites." in text
    assert "Il nous appartient de le démontrer" in text


def test_a_refusal_after_the_one_month_date_is_flagged_even_after_an_extension(app, policy):
    # GDPR art. 12(4): reasons for not acting are due within one month of receipt; the extension of
    # art. 12(3) does not give a refusal more time. Started 5 March 2026: one month = 7 April (Easter Monday).
    import time_machine

    _, actor = staff_actor()
    req = new_request(policy, type="access", subject_kind="professional", clock_started_on=date(2026, 3, 5))
    lifecycle.extend(req, actor, policy, "Trois services à interroger.", today=date(2026, 3, 20))
    with time_machine.travel(datetime(2026, 4, 20, 9, tzinfo=timezone.utc), tick=False):
        actions.refuse(req, actor, reasons="Données d'un tiers.")
    assert req.refused_at is not None and req.refusal_late is True
    on_time = new_request(policy, type="access", subject_kind="professional", clock_started_on=date(2026, 3, 5))
    with time_machine.travel(datetime(2026, 4, 7, 15, tzinfo=timezone.utc), tick=False):
        actions.refuse(on_time, actor, reasons="Données d'un tiers.")
    assert on_time.refusal_late is False


def test_a_partial_refusal_in_an_answer_is_dated_and_flagged(app, policy):
    import time_machine

    _, actor = staff_actor()
    req = new_request(policy, type="rectification", subject_kind="professional", clock_started_on=date(2026, 3, 5))
    with time_machine.travel(datetime(2026, 4, 9, 9, tzinfo=timezone.utc), tick=False):
        lifecycle.answer(req, actor, "partly_granted", "En partie.", reasons="Une donnée est exacte.")
    assert req.refused_at is not None and req.refusal_late is True


def test_the_demo_on_the_policy_as_written_stops_before_any_letter_and_says_why(make_app):
    # `make run` loads workflows/idomed.yaml itself: its contradictions block letters, so the demo creates
    # no extension or answer and names the keys the DPO must fix, instead of failing.
    app = make_app(DSAR_POLICY=str(IDOMED))
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["demo"])
        assert result.exit_code == 0, result.output
        assert "no letter can go out until the DPO fixes the policy file" in result.output
        assert "recipients.application.tokbox.receives_health_data" in result.output
        assert "dpo@demo.test" in result.output
        assert not db.session.scalars(sa.select(Document).where(Document.kind == "letter")).all()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 7
