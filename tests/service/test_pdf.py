"""Letters rendered with WeasyPrint, read back as text with pypdf: what they say is what the law asks.

Each letter is rendered from a real request through the same services the app uses, then its text is
extracted and checked: reference, dates, the GDPR articles, the recipients named by the policy, the CNIL.
"""
from __future__ import annotations

import http.server
import io
import threading
import time
from datetime import date

import pytest

from dsar import lifecycle
from dsar.files import inspect_upload
from dsar.pdf import ANSWER_KINDS, LETTER_KINDS
from dsar.services.fulfilment.letters import render_letter, render_letter_html as render_html
from dsar.services import actions
from fulfilment_support import add_answer_files, new_request, pdf_pages, pdf_text, staff_actor

CNIL_ADDRESS = "3 Place de Fontenoy, TSA 80715, 75334 Paris Cedex 07"
CNIL_URL = "https://www.cnil.fr/fr/plaintes/internet"


def _answered_access(policy, *, language="fr", outcome="granted", subject_kind="professional", **kw):
    _, actor = staff_actor()
    req = new_request(policy, type="access", subject_kind=subject_kind, language=language, **kw)
    add_answer_files(req, actor, policy)
    actions.answer(req, actor, outcome=outcome, message="Voici la copie de vos données.",
                   reasons="Les données d'un tiers ont été occultées (RGPD art. 15(4))." if outcome != "granted" else None)
    return req


def test_the_access_letter_carries_every_item_of_gdpr_article_15_from_the_policy(app, policy):
    req = _answered_access(policy)
    text = pdf_text(render_letter("answer_access", req, "fr"))
    # Letterhead, reference, dates (received 5 March 2026: the factory's receipt instant).
    assert "IDOMED" in text and "contact@idomed.fr" in text
    assert req.reference in text
    assert "Reçue le 5 mars 2026" in text
    assert "Réponse à votre demande d'accès à vos données personnelles" in text
    # GDPR art. 15(1)(a)-(h) and 15(2), each heading with its article.
    for heading, article in [
        ("Finalités du traitement et bases juridiques", "art. 15(1)(a)"),
        ("Catégories de données personnelles", "art. 15(1)(b)"),
        ("Destinataires", "art. 15(1)(c)"),
        ("Durée de conservation des données", "art. 15(1)(d)"),
        ("Vos droits", "art. 15(1)(e)"),
        ("Droit d'introduire une réclamation", "art. 15(1)(f)"),
        ("Source des données", "art. 15(1)(g)"),
        ("Décision individuelle automatisée", "art. 15(1)(h)"),
        ("Transferts hors de l'Union européenne", "art. 15(2)"),
        ("Copie de vos données", "art. 15(3)"),
    ]:
        assert heading in text and article in text, heading
    # (a) purposes and legal bases, from policy art. 4 and 6.
    assert "Gestion et suivi des relations des Utilisateurs du Service" in text
    assert "l'exécution du contrat (RGPD art. 6(1)(b))" in text
    assert "Responsables conjoints du traitement (RGPD art. 26)" in text
    # (b) categories and (d) retention, from policy art. 7 and 12.
    assert "Données bancaires et financières" in text
    assert "Durée du contrat en base active, puis 10 ans en base archive" in text
    # (c) recipients named, from policy art. 11.
    for name in ("Sendgrid (Twilio)", "Stripe", "Zoho", "Amazon Web Services EMEA", "Nexmo (Vonage)", "Firebase (Google)"):
        assert name in text, name
    assert "sous-traitant" in text
    # (e) rights, with their articles.
    assert "Le droit à l'effacement (RGPD art. 17)" in text and "Le droit à la portabilité (RGPD art. 20)" in text
    assert "art. 85" in text
    # (f) the CNIL, its postal address and URL.
    assert "CNIL" in text and CNIL_ADDRESS in text and CNIL_URL in text and "art. 77" in text
    # (g) the source, from policy art. 9.
    assert "collectées directement auprès de l'Utilisateur ou auprès de son employeur" in text
    # (h) no automated decision.
    assert "aucune. Aucune décision fondée exclusivement sur un traitement automatisé" in text
    # 15(2): the transfers, on the safeguard the policy names now. An invalidated one (Privacy Shield) never
    # reaches a letter: it blocks letters until the DPO fixes the policy (tests/service/test_letters_legal.py).
    assert "Data Privacy Framework" in text and "Privacy Shield" not in text and "C-311/18" not in text
    assert "En aucun cas des données relatives à la santé ne sont transférées en dehors de l'Union européenne." in text
    assert "clauses contractuelles types" in text
    # The copy of the data: the files delivered are named, and the manifest announced.
    assert "dossier patient.pdf" in text and "photo.jpg" in text and "manifest.json" in text
    assert "Voici la copie de vos données." in text
    assert "Page 1 / " in text


def test_the_access_letter_in_english(app, policy):
    req = _answered_access(policy, language="en")
    text = pdf_text(render_letter("answer_access", req, "en"))
    assert "Answer to your request for access to your personal data" in text
    assert "Received on March 5, 2026" in text
    assert "art. 15(1)(a)" in text and "art. 15(1)(h)" in text and "art. 15(2)" in text
    assert "the performance of a contract (GDPR art. 6(1)(b))" in text
    assert "Sendgrid (Twilio)" in text and "Sending emails to users" in text
    assert "EU–US Data Privacy Framework" in text and "Privacy Shield" not in text and "No longer valid" not in text
    assert "Health data are never transferred outside the European Union." in text
    assert CNIL_ADDRESS in text and "Yours faithfully," in text
    assert "Réponse" not in text


def test_a_patients_access_letter_lists_only_the_application_and_its_health_data_basis(app, policy):
    req = _answered_access(policy, subject_kind="patient")
    text = pdf_text(render_letter("answer_access", req, "fr"))
    assert "Application Idomed" in text and "Fichier Clients/Prospects" not in text
    assert "Données de santé" in text and "art. 9(2)(h)" in text
    assert "Données sensibles — conversations" in text
    # Patients' data go to Nexmo (Vonage); the client file's processors are not named.
    assert "Nexmo (Vonage)" in text and "Stripe" not in text


def test_a_partial_refusal_states_its_reasons_and_the_remedies(app, policy):
    req = _answered_access(policy, outcome="partly_granted")
    text = pdf_text(render_letter("answer_access", req, "fr"))
    assert "Nous faisons droit à votre demande en partie" in text
    assert "Les données d'un tiers ont été occultées" in text
    assert "Vos voies de recours" in text and CNIL_ADDRESS in text and "RGPD art. 79" in text


def test_the_refusal_letter_cites_reasons_cnil_and_judicial_remedy(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="erasure", subject_kind="prospect", activities=["client_file"])
    actions.refuse(req, actor, reasons="Les données sont nécessaires à la défense d'un litige en cours.")
    text = pdf_text(render_letter("refusal", req, "fr"))
    assert "Refus de votre demande" in text and req.reference in text
    assert "Les données sont nécessaires à la défense d'un litige en cours." in text
    assert "RGPD art. 12(4)" in text
    assert "CNIL" in text and CNIL_ADDRESS in text and CNIL_URL in text
    assert "RGPD art. 77" in text and "recours juridictionnel" in text and "RGPD art. 79" in text
    en = pdf_text(render_letter("refusal", req, "en"))
    assert "Refusal of your request" in en and "judicial remedy" in en and "GDPR art. 79" in en and CNIL_ADDRESS in en


def test_the_extension_letter_gives_reasons_and_both_dates(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="access", clock_started_on=date(2026, 3, 5))
    # The extension must be told before the one-month deadline (5 April 2026 → Tuesday 7 April, Easter Monday).
    lifecycle.extend(req, actor, policy, "Volume exceptionnel de données à rassembler auprès de trois services.",
                     today=date(2026, 3, 20))
    text = pdf_text(render_letter("extension", req, "fr"))
    assert "Prolongation du délai de réponse à votre demande" in text
    assert "Volume exceptionnel de données à rassembler auprès de trois services." in text
    assert "RGPD art. 12(3)" in text and "2 mois" in text
    assert "7 avril 2026" in text                     # the one-month deadline (Easter Monday rolled over)
    assert "5 juin 2026" in text                      # start + 3 months
    assert f"Nous vous répondrons au plus tard le 5 juin 2026" in text


def test_the_acknowledgement_identity_and_clarification_letters(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="rectification", clock_started_on=date(2026, 3, 5))
    ack = pdf_text(render_letter("acknowledgement", req, "fr"))
    assert "Accusé de réception de votre demande" in ack and "Nous avons reçu votre demande le 5 mars 2026" in ack
    assert "au plus tard le 7 avril 2026" in ack and "RGPD art. 12(3)" in ack and "2 mois" in ack

    waiting = new_request(policy, type="access", status="awaiting_identity")
    ident = pdf_text(render_letter("identity_requested", waiting, "fr"))
    assert "Justificatif d'identité nécessaire pour votre demande" in ident
    assert "art. 8.1" in ident and "10 Mo" in ident and "1 an" in ident and "art. 12" in ident

    # An identity question suspends the period (décret n° 2019-536 art. 77), and the letter says so.
    lifecycle.ask_clarification(req, actor, "Quelles données souhaitez-vous rectifier exactement ?", today=date(2026, 3, 9),
                                policy=policy, kind="identity")
    clar = pdf_text(render_letter("clarification", req, "fr"))
    assert "Quelles données souhaitez-vous rectifier exactement ?" in clar
    assert "suspendu à compter du 9 mars 2026" in clar and "art. 77" in clar


@pytest.mark.parametrize("kind", LETTER_KINDS)
@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_letter_renders_in_both_languages_with_letterhead_reference_and_page_numbers(app, policy, kind, language):
    rtype = kind.removeprefix("answer_") if kind in ANSWER_KINDS else "access"
    req = new_request(policy, type=rtype, language=language, outcome="granted", answer_message="Texte de la réponse.",
                      refusal_reasons="Motif du refus.", clock_started_on=date(2026, 3, 5))
    data = render_letter(kind, req, language)
    text = pdf_text(data)
    assert data.startswith(b"%PDF-")
    assert "IDOMED" in text and req.reference in text and "Page 1 / " in text
    assert ("Madame, Monsieur," in text) == (language == "fr")
    # Issue 18: an English letter greets the named requester, never "Dear Sir or Madam" to a known person.
    named = req.requester.full_name
    assert ("Dear Sir or Madam," in text) is False
    assert (f"Dear {named}," in text) == (language == "en")
    # What we send passes the bar we set for what we receive: no scripts, forms, attachments or actions.
    inspected, _ = inspect_upload(io.BytesIO(data), filename=None, declared_type=None, max_bytes=len(data))
    assert inspected.mime == "application/pdf" and inspected.pages == pdf_pages(data)


def test_a_requesters_text_is_shown_as_text_never_as_markup(app, policy):
    req = new_request(policy, type="objection", outcome="refused",
                      refusal_reasons='<img src="http://127.0.0.1:9/x.png"> <b>gras</b> & "guillemets"')
    html = render_html("refusal", req, "fr")
    assert "<img src=" not in html and "&lt;img src=" in html
    text = pdf_text(render_letter("refusal", req, "fr"))
    assert '<b>gras</b> & "guillemets"' in text


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_rendering_never_fetches_anything_from_the_network(app):
    from weasyprint import HTML

    from dsar.pdf import _no_network_fetcher

    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        html = (f'<html><head><link rel="stylesheet" href="{base}/style.css"></head>'
                f'<body><img src="{base}/logo.png"><p style="background:url({base}/bg.png)">x</p></body></html>')
        HTML(string=html, url_fetcher=_no_network_fetcher()).write_pdf()
        assert _Recorder.hits == []
        # The same page with WeasyPrint's default fetcher does reach the server: the test can see a fetch.
        HTML(string=html).write_pdf()
        assert _Recorder.hits
    finally:
        server.shutdown()


def test_a_letter_renders_fast_enough_to_stay_in_the_web_request(app, policy):
    req = _answered_access(policy)
    render_letter("refusal", req, "fr")  # warm: fonts loaded once per process
    started = time.perf_counter()
    render_letter("answer_access", req, "fr")
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0, f"the access letter took {elapsed:.2f} s"


def test_an_unknown_letter_kind_is_a_programming_error(app, policy):
    from dsar.pdf import LetterError

    req = new_request(policy)
    with pytest.raises(LetterError):
        render_letter("answer_everything", req, "fr")
