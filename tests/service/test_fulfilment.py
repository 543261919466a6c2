"""Fulfilment: packs opened and checked file by file, GDPR art. 19 tasks, the erasure plan, the account
deactivation, post-mortem directives, the purge of delivered files — through the real services, store and outbox."""
from __future__ import annotations

import csv
import hashlib
import http.server
import io
import json
import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from dsar.errors import IllegalTransition, InvalidInput, NotFound, PermissionDenied
from dsar.extensions import db
from dsar.models import Document, Event, OutboxMessage, ProfessionalTask, utcnow
from dsar.models.enums import DocumentKind
from dsar.policy import Duration
from dsar.models.fulfilment import (
    AccountDeactivation, DownloadLink, PostMortemDirective, RecipientNotification,
)
from dsar.services import actions, fulfilment
from factories import make_professional
from fulfilment_support import add_answer_files, new_request, open_zip, pdf_text, read_stored, staff_actor
from hostile_files import valid_jpeg, valid_pdf, valid_png


def _files_on_disk(app) -> set:
    from pathlib import Path

    root = Path(app.config["DSAR_FILES_DIR"])
    return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _events(req, action):
    return db.session.scalars(sa.select(Event).where(Event.request_id == req.id, Event.action == action)).all()


def _zip_of(req):
    [pack] = [d for d in req.documents if d.kind == DocumentKind.EXPORT and d.mime == "application/zip"]
    return pack, open_zip(read_stored(pack))


def _check_manifest(zf):
    """Every file of the pack is in the manifest with its true SHA-256 and size, and nothing else is."""
    manifest = json.loads(zf.read("manifest.json"))
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(zf.namelist()) - {"manifest.json"}
    for path, entry in listed.items():
        data = zf.read(path)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), path
        assert entry["size"] == len(data)
    return manifest


# --- the access pack -----------------------------------------------------------------------------------------


def test_an_access_answer_is_the_letter_and_the_data_in_one_zip_with_a_manifest(app, policy, mailbox, run_jobs):
    _, actor = staff_actor()
    req = new_request(policy, type="access", subject_kind="patient")
    gathered = add_answer_files(req, actor, policy, files=[
        ("dossier patient.pdf", valid_pdf(), "application/pdf"), ("photo.jpg", valid_jpeg(), "image/jpeg"),
        ("../../scan.pdf", valid_png(), "application/pdf"),    # a PNG under a PDF's name, with a path
    ])
    actions.answer(req, actor, outcome="granted", message="Voici vos données.")
    db.session.commit()
    link = req.download_links[-1]

    pack, zf = _zip_of(req)
    manifest = _check_manifest(zf)
    assert manifest["reference"] == req.reference and manifest["pack"] == "access"
    names = zf.namelist()
    letter_name = next(n for n in names if n.startswith("00_") and n.endswith(".pdf"))
    [letter] = [d for d in req.documents if d.kind == DocumentKind.LETTER]
    assert zf.read(letter_name) == read_stored(letter)
    assert "Copie de vos données" in pdf_text(zf.read(letter_name))
    # The gathered files, byte for byte, under names that carry no path.
    data_files = sorted(n for n in names if n.startswith("data/"))
    assert [zf.read(n) for n in data_files] == [read_stored(d) for d in gathered]
    assert data_files == ["data/01_dossier_patient.pdf", "data/02_photo.jpg", "data/03_scan.png"]  # types by content
    # The link offers the letter and the pack, and remembers their hashes and what the pack holds.
    assert [f["sha256"] for f in link.files] == [letter.sha256, pack.sha256]
    assert link.files[1]["contains"] == [d.id for d in gathered]
    assert link.expires_at - link.created_at == timedelta(days=14)          # policy delivery.download_link_valid_days
    assert link.purge_after - link.expires_at == timedelta(days=7)          # policy delivery.purge_grace_days
    run_jobs()
    [mail] = mailbox.wait_for(1)
    assert mail["To"] == req.requester.email and req.reference in mail["Subject"]
    body = mailbox.text(mail)
    assert "/download/" in body and "lien de suivi" in body and "donnees-" in body
    assert "/status/" not in body                # the second secret never travels with the first
    assert _events(req, "pack_built") and _events(req, "download_link_issued")


def test_an_access_answer_without_the_data_is_refused_and_nothing_is_written(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="access")
    db.session.commit()
    before = _files_on_disk(app)
    with pytest.raises(InvalidInput) as err:
        actions.answer(req, actor, outcome="granted", message="Voici.")
    assert err.value.code == "no_answer_files" and "15(3)" in err.value.message
    db.session.rollback()
    assert _files_on_disk(app) == before
    assert db.session.scalar(sa.select(sa.func.count(Document.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0
    assert db.session.get(type(req), req.id).status == "open"


def test_a_file_that_fails_the_upload_checks_never_goes_into_a_pack(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="access")
    # A PDF with a script, written to the store behind the upload checks' back.
    from hostile_files import hostile_corpus

    scripted = next(h for h in hostile_corpus(1024 * 1024) if h.expected_error == "active_content")
    from dsar.services.documents import file_store

    name = file_store().put(scripted.content)
    req.documents.append(Document(kind=DocumentKind.ANSWER, storage_name=name, display_name="export.pdf",
                                  mime="application/pdf", size=len(scripted.content),
                                  sha256=hashlib.sha256(scripted.content).hexdigest(), uploaded_by="someone"))
    db.session.commit()
    before = _files_on_disk(app)
    with pytest.raises(InvalidInput) as err:
        actions.answer(req, actor, outcome="granted", message="Voici.")
    assert err.value.code == "unsafe_file" and err.value.params["name"] == "export.pdf"
    db.session.rollback()
    # The letter had been rendered and stored before the pack failed: the rollback took it away again.
    assert _files_on_disk(app) == before


def test_a_stored_file_that_no_longer_matches_its_hash_is_not_sent(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="access")
    [doc, _] = add_answer_files(req, actor, policy)
    doc.sha256 = "0" * 64
    db.session.commit()
    with pytest.raises(InvalidInput) as err:
        actions.answer(req, actor, outcome="granted", message="Voici.")
    assert err.value.code == "integrity"
    db.session.rollback()


def test_no_data_held_is_a_letter_without_a_pack(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="access")
    actions.answer(req, actor, outcome="no_data", message="Aucune donnée.")
    db.session.commit()
    assert [d.kind for d in req.documents] == ["letter"]
    assert "nous n'y détenons aucune donnée personnelle vous concernant" in pdf_text(read_stored(req.documents[0]))


# --- portability ---------------------------------------------------------------------------------------------

PROVIDED_JSON = json.dumps([
    {"nom": "Dupont", "prenom": "Jeanne", "email": "jeanne@example.test", "mobile": "+33600000000", "actif": True},
    {"nom": "Dupont", "prenom": "Jeanne", "email": "j.dupont@example.test", "mobile": None, "actif": False},
]).encode()
PROVIDED_CSV = "type_compte;formule;note\r\npatient;gratuit;=HYPERLINK(\"http://evil\")\r\n".encode("utf-8-sig")


def test_a_portability_answer_is_json_and_csv_with_a_manifest(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="portability", subject_kind="patient")
    fulfilment.add_portable_dataset(req, actor, category_ref="application.identification", raw=PROVIDED_JSON)
    fulfilment.add_portable_dataset(req, actor, category_ref="application.contract", raw=PROVIDED_CSV)
    actions.answer(req, actor, outcome="granted", message="Vos données.")
    db.session.commit()

    _, zf = _zip_of(req)
    manifest = _check_manifest(zf)
    assert manifest["pack"] == "portability"
    data = json.loads(zf.read("data.json"))
    by_cat = {c["category"]: c for c in data["categories"]}
    assert by_cat["identification"]["records"] == json.loads(PROVIDED_JSON)          # exact values, types kept
    assert by_cat["contract"]["records"] == [{"type_compte": "patient", "formule": "gratuit",
                                              "note": '=HYPERLINK("http://evil")'}]
    rows = list(csv.reader(io.StringIO(zf.read("csv/application__identification.csv").decode("utf-8"))))
    assert rows[0] == ["nom", "prenom", "email", "mobile", "actif"]
    assert rows[1] == ["Dupont", "Jeanne", "jeanne@example.test", "+33600000000", "true"]
    assert rows[2][3] == "" and len(rows) == 3
    contract = list(csv.reader(io.StringIO(zf.read("csv/application__contract.csv").decode("utf-8"))))
    assert contract[0] == ["type_compte", "formule", "note"]
    assert contract[1][2] == "'=HYPERLINK(\"http://evil\")"      # a spreadsheet will not run it
    assert manifest["columns"]["csv/application__contract.csv"] == ["type_compte", "formule", "note"]
    # The letter is in the pack too, and names the CSV files; the JSON and CSV are what make it a portability answer.
    letter = next(n for n in zf.namelist() if n.endswith(".pdf"))
    text = pdf_text(zf.read(letter))
    assert "csv/application__identification.csv" in text and "data.json" in text and "RGPD art. 20(2)" in text


def test_a_portability_answer_needs_machine_readable_data(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="portability", subject_kind="patient")
    add_answer_files(req, actor, policy)   # a PDF is not enough
    with pytest.raises(InvalidInput) as err:
        actions.answer(req, actor, outcome="granted", message="Vos données.")
    assert err.value.code == "no_portable_data" and "PDF" in err.value.message
    db.session.rollback()


@pytest.mark.parametrize("raw, code", [
    (b"", "empty"),
    (valid_pdf(), "type_not_accepted"),
    (b"\xff\xfe\x00n\x00o\x00m", "type_not_accepted"),
    (b'[{"a": 1}, {"a": ', "bad_json"),
    (b'{"a": 1}', "bad_json_shape"),
    (b'[{"a": {"nested": 1}}]', "nested"),
    (b'[{"a": NaN}]', "bad_json"),
    (b"[]", "no_records"),
    (b"a,b\n1,2,3\n", "bad_csv_row"),
    (b"a,a\n1,2\n", "bad_csv_header"),
    ("nom\nDupont\xe9\n".encode("latin-1"), "encoding"),
])
def test_a_bad_data_file_is_refused_with_a_reason(app, policy, raw, code):
    _, actor = staff_actor()
    req = new_request(policy, type="portability", subject_kind="patient")
    with pytest.raises(InvalidInput) as err:
        fulfilment.add_portable_dataset(req, actor, category_ref="application.identification", raw=raw)
    assert err.value.code == code and err.value.field == "dataset"


def test_only_data_the_person_provided_is_portable(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="portability", subject_kind="patient")
    # Usage statistics are observed, not provided (policy art. 7: portable false).
    with pytest.raises(InvalidInput) as err:
        fulfilment.add_portable_dataset(req, actor, category_ref="application.usage_statistics", raw=PROVIDED_JSON)
    assert err.value.code == "bad_category"
    other = new_request(policy, type="access")
    with pytest.raises(IllegalTransition):
        fulfilment.add_portable_dataset(other, actor, category_ref="application.identification", raw=PROVIDED_JSON)


def test_replacing_a_data_set_deletes_the_previous_copy(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="portability", subject_kind="patient")
    first = fulfilment.add_portable_dataset(req, actor, category_ref="application.identification", raw=PROVIDED_JSON)
    old_doc = first.document
    second = fulfilment.add_portable_dataset(req, actor, category_ref="application.identification",
                                             raw=b'[{"nom": "Martin"}]')
    db.session.commit()
    assert len(req.portable_datasets) == 1 and req.portable_datasets[0].id == second.id
    assert old_doc.purged_at is not None and old_doc.storage_name is None and old_doc.sha256


# --- GDPR art. 19 --------------------------------------------------------------------------------------------


def _routed_patient_request(policy, type_):
    pro = make_professional()
    req = new_request(policy, type=type_, subject_kind="patient")
    db.session.add(ProfessionalTask(request=req, professional=pro, expires_at=utcnow() + timedelta(days=30)))
    db.session.flush()
    return req, pro


@pytest.mark.parametrize("type_", ["rectification", "erasure", "restriction"])
def test_each_recipient_of_the_processing_gets_a_notification_task(app, policy, type_):
    _, actor = staff_actor()
    req, pro = _routed_patient_request(policy, type_)
    actions.answer(req, actor, outcome="granted", message="Fait.")
    db.session.commit()
    tasks = {t.recipient_key: t for t in req.recipient_notifications}
    # Policy art. 11, "Application Idomed": every recipient, one task each.
    assert set(tasks) == {r.key for r in policy.recipients_for("application")}
    assert all(t.status == "pending" for t in tasks.values())
    assert tasks["professional_users"].contact == pro.email                 # the joint controller in charge
    assert tasks["aws"].contact is None and tasks["aws"].contact_problem == "placeholder"
    assert tasks["patient_users"].contact_problem == "in_application"
    assert fulfilment.pending_obligations(req)
    text = pdf_text(read_stored(next(d for d in req.documents if d.kind == "letter")))
    assert "Destinataires informés (RGPD art. 19)" in text and "Amazon Web Services EMEA" in text


def test_no_notification_tasks_after_a_refusal_or_for_an_access(app, policy):
    _, actor = staff_actor()
    refused, _ = _routed_patient_request(policy, "erasure")
    actions.answer(refused, actor, outcome="refused", message="Non.", reasons="Litige en cours.")
    access = new_request(policy, type="access")
    add_answer_files(access, actor, policy)
    actions.answer(access, actor, outcome="granted", message="Voici.")
    assert refused.recipient_notifications == [] and access.recipient_notifications == []


def test_a_recipient_is_notified_by_email_through_the_outbox(app, policy, mailbox, run_jobs):
    _, actor = staff_actor()
    req, pro = _routed_patient_request(policy, "erasure")
    actions.answer(req, actor, outcome="granted", message="Effacé.")
    db.session.commit()
    run_jobs()
    mailbox.clear()
    task = next(t for t in req.recipient_notifications if t.recipient_key == "professional_users")
    fulfilment.notify_recipient(req, actor, task.id, message="Merci de supprimer aussi la fiche patient.")
    db.session.commit()
    run_jobs()
    [mail] = mailbox.wait_for(1)
    assert mail["To"] == pro.email and req.reference in mail["Subject"] and "19" in mail["Subject"]
    body = mailbox.text(mail)
    assert "l'effacement de ses données personnelles (RGPD art. 17)" in body
    assert "Jeanne Dupont" in body and "Merci de supprimer aussi la fiche patient." in body
    assert task.status == "notified" and task.method == "email" and task.outbox_message_id and task.closed_by
    with pytest.raises(IllegalTransition):
        fulfilment.notify_recipient(req, actor, task.id)


def test_a_recipient_without_an_address_is_closed_by_saying_how_or_why_not(app, policy):
    _, actor = staff_actor()
    req, _ = _routed_patient_request(policy, "restriction")
    actions.answer(req, actor, outcome="granted", message="Limité.")
    aws = next(t for t in req.recipient_notifications if t.recipient_key == "aws")
    users = next(t for t in req.recipient_notifications if t.recipient_key == "patient_users")
    with pytest.raises(InvalidInput) as err:
        fulfilment.notify_recipient(req, actor, aws.id)
    assert err.value.field == "how"
    with pytest.raises(InvalidInput) as err:
        fulfilment.close_recipient_impossible(req, actor, aws.id, reason="  ")
    assert err.value.field == "reason"
    fulfilment.notify_recipient(req, actor, users.id, how="Bandeau affiché dans l'application le 2 avril.")
    fulfilment.close_recipient_impossible(req, actor, aws.id, reason="Hébergeur : aucune copie distincte à traiter.")
    assert users.status == "notified" and users.method == "other" and "Bandeau" in users.reason
    assert aws.status == "impossible" and aws.reason.startswith("Hébergeur")
    with pytest.raises(NotFound):
        fulfilment.close_recipient_impossible(req, actor, 999999, reason="x")
    # The requester can be given the list (GDPR art. 19, last sentence).
    link = fulfilment.send_letter(req, actor, "recipients_list")
    text = pdf_text(read_stored(db.session.get(Document, link.files[0]["document_id"])))
    assert "non informé : Hébergeur : aucune copie distincte à traiter." in text
    assert "informé le" in text and "en cours d'information" in text


# --- the erasure plan ----------------------------------------------------------------------------------------


def _plan(req):
    return {(i["activity"], i["category"]): (i["action"], i["until"], tuple(i["grounds"]))
            for i in req.erasure_decision.items}


def test_erasing_a_professional_users_account_follows_the_retention_table(app, policy):
    """Policy art. 12: active base, then the 10-year archive; identity proof 1 year; logs 12 rolling months."""
    _, actor = staff_actor()
    req = new_request(policy, type="erasure", subject_kind="professional")
    from dsar.services.documents import store_document

    store_document(req, DocumentKind.IDENTITY, io.BytesIO(valid_pdf()), filename="cni.pdf",
                   declared_type="application/pdf", actor=actor, policy=policy)
    today = fulfilment._today()
    actions.answer(req, actor, outcome="granted", message="Votre compte est supprimé.")
    db.session.commit()
    plan = _plan(req)
    # The erasure closes the account today: the archive runs 10 years from today; the identity proof
    # received today is kept 1 year; connection logs roll over 12 months.
    ten = Duration(years=10).after(today).isoformat()
    one = Duration(years=1).after(today).isoformat()
    assert plan[("client_file", "identification")] == ("archive_until", ten, ("legal_obligation",))
    assert plan[("client_file", "contract")] == ("archive_until", ten, ("evidence", "legal_obligation"))
    assert plan[("client_file", "banking")] == ("archive_until", ten, ("legal_obligation",))
    assert plan[("application", "identification")] == ("archive_until", ten, ("evidence",))
    assert plan[("application", "payment_status")] == ("archive_until", ten, ("evidence",))
    assert plan[("client_file", "identity_proof")] == ("archive_until", one, ("evidence", "legal_obligation"))
    assert plan[("application", "connection_logs")][0] == "keep_rolling"
    assert plan[("application", "connection_logs")][2] == ("legal_obligation", "evidence")
    assert plan[("application", "registration_proof")][0] == "erase_now"
    assert plan[("application", "device_data")][0] == "erase_now"
    assert plan[("application", "usage_statistics")][0] == "erase_now"
    assert plan[("application", "connection_logs")][1] == Duration(months=12).after(today).isoformat()
    # The letter states the same plan, with the grounds of GDPR art. 17(3).
    text = pdf_text(read_stored(next(d for d in req.documents if d.kind == "letter")))
    from dsar.formatting import long_date

    assert "Ce qui est effacé, ce qui est conservé et pourquoi" in text
    assert f"Conservé en archive jusqu'au {long_date(date.fromisoformat(ten), 'fr')}, puis effacé" in text
    assert f"jusqu'au {long_date(date.fromisoformat(one), 'fr')}" in text
    assert "obligation légale (RGPD art. 17(3)(b))" in text and "(RGPD art. 17(3)(e))" in text
    assert "Effacé maintenant" in text and "Conservé sur une période glissante" in text
    assert _events(req, "erasure_planned")


def test_while_the_contract_runs_its_data_stay_in_the_active_base(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="erasure", subject_kind="professional")
    fulfilment.set_erasure_facts(req, actor, contract_state="running")
    actions.answer(req, actor, outcome="partly_granted", message="En partie.",
                   reasons="Votre contrat est en cours : les données nécessaires à son exécution restent.")
    plan = _plan(req)
    assert plan[("client_file", "identification")][0] == "keep_while_contract"
    assert plan[("application", "device_data")][0] == "keep_while_contract"
    assert plan[("application", "registration_proof")][0] == "erase_now"
    text = pdf_text(read_stored(next(d for d in req.documents if d.kind == "letter")))
    assert "Conservé tant que votre contrat court, puis effacé ou archivé" in text
    assert "exécution du contrat (RGPD art. 17(1)(a))" in text and "Votre contrat est en cours" in text


def test_a_contract_that_ended_earlier_counts_the_archive_from_its_end(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="erasure", subject_kind="professional")
    with pytest.raises(InvalidInput) as err:
        fulfilment.set_erasure_facts(req, actor, contract_state="ended")
    assert err.value.field == "contract_ended_on"
    with pytest.raises(InvalidInput):
        fulfilment.set_erasure_facts(req, actor, contract_state="ended", contract_ended_on=date(2999, 1, 1))
    with pytest.raises(InvalidInput):
        fulfilment.set_erasure_facts(req, actor, contract_state="forever")
    fulfilment.set_erasure_facts(req, actor, contract_state="ended", contract_ended_on=date(2024, 6, 30),
                                 last_invoice_on=date(2024, 1, 31))
    rows = {(r["category"], r["activity"]): r for r in fulfilment.erasure_rows(req, "en")}
    assert rows[("Identification data", "Client and prospect file")]["until"] == date(2034, 6, 30)
    assert rows[("Banking and financial data", "Client and prospect file")]["until"] == date(2034, 1, 31)
    actions.answer(req, actor, outcome="granted", message="Fait.")
    with pytest.raises(IllegalTransition):
        fulfilment.set_erasure_facts(req, actor, contract_state="running")


# --- withdrawal of consent for health data (policy art. 8.2) ------------------------------------------------


class _WebhookReceiver(http.server.BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        _WebhookReceiver.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_withdrawing_consent_for_health_data_deactivates_the_patients_account(app, policy, mailbox, run_jobs):
    from dsar.services.webhooks import create_endpoint

    server = http.server.HTTPServer(("127.0.0.1", 0), _WebhookReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _WebhookReceiver.bodies = []
    try:
        create_endpoint(url=f"http://127.0.0.1:{server.server_port}/hook", events=["account.deactivation_requested"],
                        description="application", created_by="test")
        _, actor = staff_actor()
        req = new_request(policy, type="consent_withdrawal", subject_kind="patient", external_account_id="acct-42",
                          channel="account")
        actions.answer(req, actor, outcome="granted", message="Retrait enregistré.")
        db.session.commit()
        run_jobs()
        dz = req.account_deactivation
        assert dz.status == "requested" and dz.webhook_queued and dz.external_account_id == "acct-42"
        hook = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.template == "account.deactivation_requested"))
        body = json.loads(hook.body_text)
        # References only: no name, no email, no health data.
        assert body["data"] == {"reference": req.reference, "external_account_id": "acct-42"}
        import time

        deadline = time.monotonic() + 10
        while not _WebhookReceiver.bodies and time.monotonic() < deadline:
            run_jobs()
            time.sleep(0.1)
        assert _WebhookReceiver.bodies and _WebhookReceiver.bodies[0]["event"] == "account.deactivation_requested"
        dpo = [m for m in mailbox.wait_for(2) if m["To"] == "dpo@example.test"]
        assert dpo and req.reference in dpo[0]["Subject"]
        text = pdf_text(read_stored(next(d for d in req.documents if d.kind == "letter")))
        assert "votre compte patient dans l'application Idomed est désactivé (politique, art. 8.2)" in text
        assert "archive à des fins probatoires" in text and "RGPD art. 7(3)" in text
        assert fulfilment.pending_obligations(req) == ["deactivation"]
        fulfilment.confirm_account_deactivation(req, actor, note="Compte désactivé par le support.")
        assert dz.status == "confirmed" and dz.confirmed_by and fulfilment.pending_obligations(req) == []
        with pytest.raises(IllegalTransition):
            fulfilment.confirm_account_deactivation(req, actor)
    finally:
        server.shutdown()


def test_a_withdrawal_without_health_data_deactivates_nothing(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="consent_withdrawal", subject_kind="prospect", activities=["client_file"])
    actions.answer(req, actor, outcome="granted", message="Retrait enregistré.")
    assert req.account_deactivation is None
    assert db.session.scalar(sa.select(sa.func.count(AccountDeactivation.id))) == 0


def test_without_an_account_identifier_staff_find_the_account(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="consent_withdrawal", subject_kind="patient")
    actions.answer(req, actor, outcome="granted", message="Retrait enregistré.")
    assert req.account_deactivation.webhook_queued is False
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id)).where(
        OutboxMessage.template == "account.deactivation_requested")) == 0


# --- post-mortem directives (Informatique et Libertés art. 85) ----------------------------------------------


def _directive_request(policy, **kw):
    return new_request(policy, type="post_mortem_directive", subject_kind="patient", **kw)


def test_directives_are_registered_changed_and_revoked_with_their_history(app, policy):
    _, actor = staff_actor()
    req = _directive_request(policy)
    with pytest.raises(InvalidInput) as err:
        actions.answer(req, actor, outcome="granted", message="Enregistré.")
    assert err.value.code == "no_directive"
    db.session.rollback()
    req = _directive_request(policy, email="jeanne.directives@example.test")
    with pytest.raises(InvalidInput):
        fulfilment.record_directive(req, actor, action="register", instructions="  ")
    d = fulfilment.record_directive(req, actor, action="register",
                                    instructions="Effacer mes conversations ; communiquer mon dossier à ma fille.",
                                    executor_name="Claire Dupont", executor_email="Claire@Example.test")
    actions.answer(req, actor, outcome="granted", message="Vos directives sont enregistrées.")
    db.session.commit()
    assert d.status == "active" and d.executor_email == "claire@example.test"
    text = pdf_text(read_stored(next(x for x in req.documents if x.kind == "letter")))
    assert "Vos directives ont été enregistrées le" in text and "Claire Dupont" in text
    assert "Effacer mes conversations" in text and "art. 85" in text
    assert "Vos directives n'excluent pas les droits de vos héritiers" in text

    change = _directive_request(policy, email="jeanne.directives@example.test")
    with pytest.raises(IllegalTransition):
        fulfilment.record_directive(change, actor, action="register", instructions="Autre chose.")
    fulfilment.record_directive(change, actor, action="change", instructions="Tout effacer.", heirs_may_act=False)
    revoke = _directive_request(policy, email="jeanne.directives@example.test")
    fulfilment.record_directive(revoke, actor, action="revoke")
    actions.answer(revoke, actor, outcome="granted", message="Révoquées.")
    assert d.status == "revoked" and d.revoked_at is not None
    assert [c.action for c in d.changes] == ["registered", "changed", "revoked"]
    assert d.changes[1].heirs_may_act is False and d.changes[0].instructions.startswith("Effacer")
    assert "Vos directives ont été révoquées le" in pdf_text(read_stored(
        next(x for x in revoke.documents if x.kind == "letter")))
    # The trail records the facts, never the directives' content.
    events = _events(change, "post_mortem_directive_changed")
    assert events and "Tout effacer" not in json.dumps(events[0].details)


def test_only_the_person_themself_sets_directives(app, policy):
    _, actor = staff_actor()
    req = _directive_request(policy)
    req.requester.acting_for = "other"
    req.requester.relationship_to_subject = "mandatary"
    with pytest.raises(PermissionDenied):
        fulfilment.record_directive(req, actor, action="register", instructions="x")
    dead = _directive_request(policy)
    dead.subject.deceased = True
    with pytest.raises(IllegalTransition):
        fulfilment.record_directive(dead, actor, action="register", instructions="x")


def _after_death(policy, type_, relationship, email="heritier@example.test", **kw):
    req = new_request(policy, type=type_, subject_kind="patient", email="defunt@example.test", **kw)
    req.subject.deceased = True
    req.requester.acting_for = "other"
    req.requester.relationship_to_subject = relationship
    req.requester.email = email
    req.requester.first_name, req.requester.last_name = "Paul", "Dupont"
    db.session.flush()
    return req


def _register(policy, actor, **kw):
    req = _directive_request(policy, email="defunt@example.test")
    fulfilment.record_directive(req, actor, action="register", instructions="Clôturer mes comptes.", **kw)
    return req


def test_heirs_get_only_what_the_law_allows(app, policy):
    _, actor = staff_actor()
    # No directives: heirs may ask access for the estate, erasure (closing accounts), objection, rectification.
    access = _after_death(policy, "access", "heir")
    standing = fulfilment.post_mortem_standing(access)
    assert standing.allowed and standing.role == "heir" and "85 II 1°" in standing.scope
    add_answer_files(access, actor, policy)
    actions.answer(access, actor, outcome="granted", message="Informations utiles à la succession.")
    text = pdf_text(read_stored(next(d for d in access.documents if d.kind == "letter")))
    assert "héritier" in text and "les informations utiles au règlement de la succession (art. 85 II 1°)" in text
    # Portability is not among them.
    portability = _after_death(policy, "portability", "heir")
    assert fulfilment.post_mortem_standing(portability).allowed is False
    with pytest.raises(InvalidInput) as err:
        actions.answer(portability, actor, outcome="granted", message="x")
    assert err.value.code == "post_mortem_limit"
    db.session.rollback()
    # A refusal stating the reason is the answer, and its letter cites art. 85.
    portability = _after_death(policy, "portability", "heir")
    actions.refuse(portability, actor, reasons="Les héritiers ne disposent pas du droit à la portabilité (art. 85 II).")
    assert "art. 85" in pdf_text(read_stored(next(d for d in portability.documents if d.kind == "letter")))


def test_directives_that_exclude_heirs_and_the_executor_they_designate(app, policy):
    _, actor = staff_actor()
    _register(policy, actor, executor_name="Claire Dupont", executor_email="claire@example.test", heirs_may_act=False)
    heir = _after_death(policy, "erasure", "heir")
    standing = fulfilment.post_mortem_standing(heir)
    assert standing.allowed is False and "mention contraire" in standing.reason
    executor = _after_death(policy, "erasure", "executor", email="CLAIRE@example.test")
    assert fulfilment.post_mortem_standing(executor).allowed is True
    stranger = _after_death(policy, "erasure", "executor", email="quelquun@example.test")
    assert fulfilment.post_mortem_standing(stranger).allowed is False
    # A living subject's request is not limited at all.
    living = new_request(policy, type="portability", subject_kind="patient")
    assert fulfilment.post_mortem_standing(living) is None


# --- extension and refusal hooks ----------------------------------------------------------------------------


def test_the_extension_is_told_with_its_reasons_and_new_date(app, policy, mailbox, run_jobs):
    _, actor = staff_actor()
    req = new_request(policy, type="access", received_at=utcnow(), clock_started_on=fulfilment._today())
    actions.extend(req, actor, reason="Trois services doivent rassembler les données.")
    db.session.commit()
    run_jobs()
    [mail] = mailbox.wait_for(1)
    body = mailbox.text(mail)
    assert "Trois services doivent rassembler les données." in body and "12(3)" in body and "/download/" in body
    from dsar.formatting import long_date

    assert long_date(req.extended_due_date, "fr") in body and "CNIL" in body
    assert req.download_links[0].purpose == "extension"


def test_a_refusal_is_told_with_the_cnil_and_the_judicial_remedy(app, policy, mailbox, run_jobs):
    _, actor = staff_actor()
    req = new_request(policy, type="objection", language="en")
    actions.refuse(req, actor, reasons="The processing is necessary for a legal obligation.")
    db.session.commit()
    run_jobs()
    [mail] = mailbox.wait_for(1)
    body = mailbox.text(mail)
    assert "The processing is necessary for a legal obligation." in body
    assert "CNIL" in body and "3 Place de Fontenoy, TSA 80715, 75334 Paris Cedex 07" in body
    assert "art. 77" in body and "art. 79" in body and "https://www.cnil.fr/fr/plaintes/internet" in body
    assert req.download_links[0].purpose == "refusal"


# --- delivery: reissue and purge ------------------------------------------------------------------------------


def test_purging_an_expired_link_deletes_the_data_and_keeps_letters_and_hashes(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="access")
    gathered = add_answer_files(req, actor, policy)
    actions.answer(req, actor, outcome="granted", message="Voici.")
    db.session.commit()
    link = req.download_links[0]
    sent = [dict(f) for f in link.files]
    # Not yet: the grace period runs after the expiry.
    assert fulfilment.purge_expired_links(now=link.expires_at + timedelta(days=1)) == 0
    from dsar.jobs.fulfilment import purge_delivered_files

    link.purge_after = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert purge_delivered_files() == 1
    db.session.expire_all()
    link = db.session.get(DownloadLink, link.id)
    assert link.purged_at is not None and link.token_hash is None and link.files == sent
    pack = db.session.get(Document, sent[1]["document_id"])
    letter = db.session.get(Document, sent[0]["document_id"])
    assert pack.purged_at is not None and pack.storage_name is None and pack.sha256 == sent[1]["sha256"]
    for doc in gathered:
        doc = db.session.get(Document, doc.id)
        assert doc.purged_at is not None and doc.storage_name is None and doc.sha256
    assert letter.purged_at is None and read_stored(letter)[:5] == b"%PDF-"
    assert _events(req, "download_link_purged")
    assert purge_delivered_files() == 0
    with pytest.raises(IllegalTransition):
        fulfilment.reissue_link(db.session.get(type(req), req.id), actor, link.id)


def test_a_file_still_offered_by_a_newer_link_is_not_purged(app, policy):
    _, actor = staff_actor()
    req = new_request(policy, type="access")
    add_answer_files(req, actor, policy)
    actions.answer(req, actor, outcome="granted", message="Voici.")
    old = req.download_links[0]
    new = fulfilment.reissue_link(req, actor, old.id)
    assert old.token_hash is None and old.revoked_at is not None and new.replaces_id == old.id
    assert [f["sha256"] for f in new.files] == [f["sha256"] for f in old.files]
    old.purge_after = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert fulfilment.purge_expired_links() == 1
    for f in new.files:
        assert db.session.get(Document, f["document_id"]).purged_at is None


def test_repr_and_audit_details_carry_no_personal_data(app, policy):
    _, actor = staff_actor()
    req, _ = _routed_patient_request(policy, "erasure")
    actions.answer(req, actor, outcome="granted", message="Effacé.")
    db.session.commit()
    blob = json.dumps([e.details for e in db.session.scalars(sa.select(Event).where(Event.request_id == req.id))])
    assert "Dupont" not in blob and req.requester.email not in blob
    assert "Dupont" not in repr(req.download_links[0])
    assert db.session.scalar(sa.select(sa.func.count(RecipientNotification.id))) > 0
    assert db.session.scalar(sa.select(sa.func.count(PostMortemDirective.id))) == 0


def test_a_download_link_state_is_one_rule_on_the_model(app):
    """Issue 15: the download pages, the status page and the back office read one rule (DownloadLink.state)."""
    now = utcnow()
    link = DownloadLink(token_hash="x" * 64, expires_at=now + timedelta(days=1))
    assert link.state(now) == "active" and link.state(now + timedelta(days=1)) == "expired"
    link.token_hash, link.revoked_at = None, now
    assert link.state(now) == "replaced"
    link.purged_at = now
    assert link.state(now) == "purged"


@pytest.mark.parametrize("kind, language, stem", [
    ("answer_access", "fr", "reponse"), ("answer_erasure", "en", "answer"), ("pack", "fr", "donnees"),
    ("pack", "en", "data"), ("identity_requested", "fr", "justificatif-identite"),
    ("identity_requested", "en", "identity-document"), ("acknowledgement", "fr", "accuse-reception"),
    ("clarification", "fr", "precisions"), ("extension", "fr", "prolongation"), ("refusal", "fr", "refus"),
    ("recipients_list", "fr", "destinataires"), ("refusal", None, "refus"), ("refusal", "de", "refus"),
    ("not_a_letter", "en", "not_a_letter"),
])
def test_file_names_are_written_in_the_requesters_language(app, kind, language, stem):
    """The file name stems are English msgids with their French in the catalogue (issue 15: no {"fr":, "en":})."""
    from dsar.services.fulfilment.common import file_stem

    assert file_stem(kind, language) == stem
