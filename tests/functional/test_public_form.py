"""The public form over HTTP: every right and kind of person, explained; accessible errors; the reference and its email."""
import html as html_lib

import pytest
import sqlalchemy as sa

from dsar.extensions import db
from dsar.models import DataRequest
from dsar.policy import localized
from public_support import FORM, Page, field_error, link_in


def text_of(res) -> str:
    return html_lib.unescape(res.get_data(as_text=True))


def test_the_home_page_leads_to_the_form_and_explains_the_deadline(client):
    res = client.get("/", headers={"Accept-Language": ""})
    page = text_of(res)
    assert res.status_code == 200
    assert 'href="/request/new"' in page and "Faire une demande" in page
    # The one-month deadline and how it is counted (policy art. 8.1, Reg. 1182/71 art. 3).
    assert "dans un délai d'un mois" in page and "art. 8.1" in page
    assert "le 31 août appelle une réponse au plus tard le 30 septembre" in page
    assert "premier jour ouvrable suivant" in page
    assert "RGPD art. 12(3)" in page and "L.1111-7" in page
    assert 'href="/links"' in page


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_form_offers_every_right_every_kind_of_person_and_every_representative(client, policy, lang):
    page = text_of(client.get(f"/request/new?lang={lang}"))
    assert f'lang="{lang}"' in page
    for key, rt in policy.request_types.items():
        assert f'value="{key}"' in page
        assert localized(rt.name, lang) in page                   # the policy's own name of the right
    assert ("RGPD art. 15" if lang == "fr" else "GDPR art. 15") in page
    assert "Informatique et Libertés" in page or "Data Protection Act" in page      # post-mortem directives
    for key, kind in policy.subject_kinds.items():
        assert f'name="subject_kind" value="{key}"' in page and localized(kind.name, lang) in page
    for relationship in ("parent", "guardian", "mandatary", "heir", "executor"):
        assert f'name="relationship" value="{relationship}"' in page
    for proof in policy.identity.representative_proofs.values():
        assert localized(proof, lang) in page                    # the proof each representative sends
    assert 'value="self"' in page and 'value="other"' in page
    if lang == "fr":
        assert "Vous opposer à une utilisation de vos données" in page and "un mois" in page
        assert "professionnel de santé qui le prend en charge" in page and "art. 8.2" in page
    else:
        assert "Object to a use of your data" in page and "one month" in page


def test_the_form_is_accessible_and_needs_no_javascript(client):
    html = client.get("/request/new").get_data(as_text=True)
    page = Page(html)
    named = [i for i in page.inputs if i.get("name")]
    assert len(named) > 20
    for i in named:
        assert i.get("id") in page.labels_for, f"input without a label: {i}"
        for ref in (i.get("aria-describedby") or "").split():
            assert ref in page.ids, f"aria-describedby points nowhere: {ref}"
    # CSP forbids inline code: scripts come from files, styles from the stylesheet.
    assert all("src" in s for s in page.scripts) and page.inline_styles == 0 and page.event_handlers == 0
    assert '<form method="post" action="/request/new"' in html and 'name="csrf_token"' in html
    assert 'name="viewport"' in html                               # sensible on a phone
    # Without JavaScript every part is in the page: the representative's fields and the medical record too.
    for name in ("requester_first_name", "requester_email", "medical_record", "relationship"):
        assert f'name="{name}"' in html


def test_errors_come_back_next_to_their_fields_with_the_values_kept(client):
    res = client.post("/request/new", data={"type": "access", "subject_first_name": "Jeanne",
                                            "subject_email": "jeanne@", "acting_for": "self"},
                      headers={"Accept-Language": "fr"})
    assert res.status_code == 422
    html = res.get_data(as_text=True)
    page = Page(html)
    assert 'class="error-summary" role="alert"' in html
    assert field_error(html, "subject_email") == "Saisissez une adresse e-mail valide, par exemple nom@exemple.fr."
    assert field_error(html, "subject_last_name") == "Indiquez le nom de la personne concernée par les données."
    assert field_error(html, "subject_kind").startswith("Indiquez-nous qui est la personne")
    assert field_error(html, "accuracy").startswith("Confirmez que ces informations sont exactes")
    email = next(i for i in page.inputs if i.get("name") == "subject_email")
    assert email["aria-invalid"] == "true" and "subject_email-error" in email["aria-describedby"]
    assert email["value"] == "jeanne@"
    # Every entry of the summary links to a field of the page.
    for target in [h[1:] for h in page.links if h.startswith("#field-")]:
        assert target in page.ids
    assert db.session.scalar(sa.select(sa.func.count(DataRequest.id))) == 0


def test_a_request_for_someone_else_needs_the_representatives_details(client):
    res = client.post("/request/new", data={**FORM, "acting_for": "other"})
    html = res.get_data(as_text=True)
    assert res.status_code == 422
    for name in ("relationship", "requester_first_name", "requester_last_name", "requester_email"):
        assert field_error(html, name), name


def test_a_submission_shows_its_reference_and_sends_it_by_email(client, mailbox, run_jobs):
    res = client.post("/request/new", data=FORM, headers={"Accept-Language": "fr"})
    assert res.status_code == 303
    location = res.headers["Location"]
    # Neither the reference nor any personal data in the URL.
    assert location.endswith("/request/sent") and "jeanne" not in location.lower()
    req = db.session.scalars(sa.select(DataRequest)).one()
    assert req.status == "unconfirmed" and req.language == "fr" and req.channel == "web"
    page = text_of(client.get(location))
    assert req.reference in page and "48 heures" in page and "7 jours" in page
    run_jobs()
    [msg] = mailbox.wait_for(1)
    assert msg["To"] == "jeanne@example.test"
    assert msg["Subject"] == f"Confirmez votre adresse e-mail — demande {req.reference}"
    assert req.reference in mailbox.text(msg) and link_in(mailbox.text(msg), "confirm")


def test_an_english_visitor_gets_an_english_request_and_english_emails(client, mailbox, run_jobs):
    client.get("/?lang=en")
    res = client.post("/request/new", data={**FORM, "type": "erasure"})
    assert res.status_code == 303
    req = db.session.scalars(sa.select(DataRequest)).one()
    assert req.language == "en" and req.type == "erasure"
    run_jobs()
    [msg] = mailbox.wait_for(1)
    assert msg["Subject"] == f"Confirm your email address — request {req.reference}"


def test_the_sent_page_shows_nothing_to_someone_who_sent_nothing(make_app, client):
    client.post("/request/new", data=FORM)
    other = make_app().test_client()
    res = other.get("/request/sent")
    assert res.status_code == 302 and res.headers["Location"].endswith("/request/new")
    assert other.get("/request/sent?reference=DSAR-2026-000001").status_code == 302


def test_a_parent_acts_for_a_child_and_we_write_to_the_parent(client, mailbox, run_jobs):
    data = {**FORM, "subject_kind": "patient", "acting_for": "other", "relationship": "parent",
            "subject_first_name": "Léo", "subject_email": "", "subject_birth_date": "2015-01-31",
            "requester_first_name": "Jeanne", "requester_last_name": "Dupont", "requester_email": "parent@example.test",
            "requester_postal_address": "1 rue de la Paix\r\n75002 Paris"}
    assert client.post("/request/new", data=data).status_code == 303
    req = db.session.scalars(sa.select(DataRequest)).one()
    assert req.requester.relationship_to_subject == "parent" and req.requester.email == "parent@example.test"
    assert req.subject.email is None and str(req.subject.birth_date) == "2015-01-31"
    assert req.requester.postal_address == "1 rue de la Paix\n75002 Paris"
    run_jobs()
    [msg] = mailbox.wait_for(1)
    assert msg["To"] == "parent@example.test"


def test_a_patient_may_ask_for_the_medical_record(client):
    # How old the information is, is not the requester's to say (CSP R.1111-1; issue 13 item 5): the form
    # offers no such box, and a forged field sets nothing.
    assert "medical_info_older_than_5_years" not in client.get("/request/new").get_data(as_text=True)
    data = {**FORM, "subject_kind": "patient", "medical_record": "1", "medical_info_older_than_5_years": "1"}
    assert client.post("/request/new", data=data).status_code == 303
    req = db.session.scalars(sa.select(DataRequest)).one()
    assert req.medical_record and not req.medical_info_older_than_5_years
    res = client.post("/request/new", data={**FORM, "medical_record": "1"})       # a prospect has no medical record
    assert res.status_code == 422 and field_error(res.get_data(as_text=True), "medical_record")
