"""Downloading an answer over HTTP: the emailed link opens only with the status-page secret, every download is
recorded, and expired, purged, replaced and tampered links are refused with a clear message, never a 500.
Also the back-office forms of the follow-up (GDPR art. 19 tasks, new link, letters, portable data)."""
from __future__ import annotations

import hashlib
import html as html_lib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from dsar.extensions import db
from dsar.models import DataRequest, Document, Event, OutboxMessage, ProfessionalTask, utcnow
from dsar.models.fulfilment import Download, DownloadLink
from dsar.services import actions, fulfilment
from dsar.tokens import make_token, status_token
from backoffice_support import signed_in_client
from factories import make_professional
from fulfilment_support import add_answer_files, new_request, open_zip, pdf_text, staff_actor

LINK = re.compile(r"http://localhost(/download/[A-Za-z0-9_.\-]+)")


def _answered(app, policy, mailbox, run_jobs, **kw):
    """An access request answered with its pack; returns the request, its status token and the emailed link."""
    _, actor = staff_actor()
    req = new_request(policy, type="access", **kw)
    add_answer_files(req, actor, policy)
    token = status_token(req)
    actions.answer(req, actor, outcome="granted", message="Voici vos données.")
    db.session.commit()
    run_jobs()
    mail = next(m for m in mailbox.wait_for(1) if m["To"] == req.requester.email)
    path = LINK.search(mailbox.text(mail)).group(1)
    return req, token, path


def _text(response) -> str:
    """The page as a person reads it (entities such as &#39; decoded)."""
    return html_lib.unescape(response.get_data(as_text=True))


def _unlock(client, path, token):
    return client.post(path, data={"status_link": f"http://localhost/status/{token}"})


def test_the_emailed_link_opens_only_together_with_the_status_secret(app, client, policy, mailbox, run_jobs):
    req, token, path = _answered(app, policy, mailbox, run_jobs)
    link = req.download_links[0]
    file_urls = [f"{path}/{f['document_id']}" for f in link.files]

    # The download link alone shows a form asking for the status link, and no file.
    page = client.get(path)
    html = _text(page)
    assert page.status_code == 200 and 'name="status_link"' in html and "Confirmez qu'il s'agit bien de vous" in html
    assert 'aria-describedby="status_link-hint"' in html and 'for="field-status_link"' in html
    assert all(url not in html for url in file_urls)
    for url in file_urls:
        refused = client.get(url)
        assert refused.status_code == 403 and "lien de suivi" in _text(refused)

    # Pasting the status link unlocks this browser; the files can then be downloaded, each one recorded.
    r = _unlock(client, path, token)
    assert r.status_code == 303 and r.headers["Location"].endswith(path)
    html = client.get(path).get_data(as_text=True)
    assert all(url in html for url in file_urls) and link.files[0]["sha256"] in html
    for entry, url in zip(link.files, file_urls):
        got = client.get(url)
        assert got.status_code == 200 and got.headers["Content-Type"].startswith(entry["mime"])
        assert "attachment" in got.headers["Content-Disposition"] and got.headers["Cache-Control"] == "no-store"
        assert hashlib.sha256(got.data).hexdigest() == entry["sha256"]
    assert pdf_text(client.get(file_urls[0]).data).count(req.reference) >= 1
    zf = open_zip(client.get(file_urls[1]).data)
    assert "manifest.json" in zf.namelist()
    db.session.expire_all()
    downloads = db.session.scalars(sa.select(Download).where(Download.link_id == link.id)).all()
    assert len(downloads) == 4 and all(d.ip == "127.0.0.1" and d.sha256 for d in downloads)
    assert db.session.scalar(sa.select(sa.func.count(Event.id)).where(
        Event.request_id == req.id, Event.action == "answer_downloaded")) == 4


def test_opening_the_status_page_unlocks_the_downloads_and_lists_what_was_sent(app, client, policy, mailbox, run_jobs):
    req, token, path = _answered(app, policy, mailbox, run_jobs)
    link = req.download_links[0]
    status = client.get(f"/status/{token}")
    page = _text(status)
    assert status.status_code == 200 and "Courriers et fichiers qui vous ont été envoyés" in page
    assert link.files[1]["name"] in page and "Téléchargez les fichiers depuis cette page" in page
    got = client.get(f"{path}/{link.files[0]['document_id']}")
    assert got.status_code == 200 and hashlib.sha256(got.data).hexdigest() == link.files[0]["sha256"]
    # Another browser, with the download link alone, gets the form and nothing else.
    assert app.test_client().get(f"{path}/{link.files[0]['document_id']}").status_code == 403


def test_another_requesters_secret_does_not_open_the_answer(app, client, policy, mailbox, run_jobs):
    req, _, path = _answered(app, policy, mailbox, run_jobs)
    other = new_request(policy, type="access")
    other_token = status_token(other)
    db.session.commit()
    r = _unlock(client, path, other_token)
    html = _text(r)
    assert r.status_code == 403 and "appartient à une autre demande" in html
    assert 'aria-invalid="true"' in html and 'id="status_link-error"' in html
    assert client.get(f"{path}/{req.download_links[0].files[0]['document_id']}").status_code == 403
    # Even with the other request unlocked (its own status page opened), this answer stays closed.
    with client.session_transaction() as s:
        s["dsar_unlocked"] = [f"{other.id}:{other.status_link_salt}"]
    assert client.get(f"{path}/{req.download_links[0].files[0]['document_id']}").status_code == 403


@pytest.mark.parametrize("pasted, status", [
    ("", 422),
    ("n'importe quoi", 422),
    ("http://localhost/status/eyJyIjoxfQ.forged.signature", 422),
])
def test_a_pasted_status_link_that_is_not_valid_is_refused(app, client, policy, mailbox, run_jobs, pasted, status):
    _, _, path = _answered(app, policy, mailbox, run_jobs)
    r = client.post(path, data={"status_link": pasted})
    assert r.status_code == status and "lien de suivi" in _text(r)


def test_a_revoked_status_link_locks_the_downloads_again(app, client, policy, mailbox, run_jobs):
    req, token, path = _answered(app, policy, mailbox, run_jobs)
    _unlock(client, path, token)
    url = f"{path}/{req.download_links[0].files[0]['document_id']}"
    assert client.get(url).status_code == 200
    req = db.session.get(DataRequest, req.id)
    req.status_link_salt = "0" * 32          # a new status link was issued: the old one is revoked
    db.session.commit()
    assert client.get(url).status_code == 403


def test_a_tampered_or_forged_link_is_refused(app, client, policy, mailbox, run_jobs):
    req, token, path = _answered(app, policy, mailbox, run_jobs)
    _unlock(client, path, token)
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    r = client.get(tampered)
    assert r.status_code == 400 and "Ce lien n'est pas valide" in _text(r)
    # A well-signed token for the right link but with a guessed secret: refused too.
    link = req.download_links[0]
    forged = make_token("download", {"l": link.id, "n": "guessed-secret"})
    assert client.get(f"/download/{forged}").status_code == 400
    assert client.get(f"/download/{forged}/{link.files[0]['document_id']}").status_code == 400
    # A file of another request through this link: not found.
    other = new_request(policy, type="access")
    _, actor = staff_actor()
    [foreign] = add_answer_files(other, actor, policy, files=[("x.pdf", open_pdf_bytes(), "application/pdf")])
    db.session.commit()
    assert client.get(f"{path}/{foreign.id}").status_code == 404
    assert client.get(f"{path}/999999").status_code == 404


def open_pdf_bytes() -> bytes:
    from hostile_files import valid_pdf

    return valid_pdf()


def test_an_expired_link_is_refused_and_staff_can_send_a_new_one(app, client, policy, mailbox, run_jobs):
    req, token, path = _answered(app, policy, mailbox, run_jobs)
    _unlock(client, path, token)
    link = db.session.get(DownloadLink, req.download_links[0].id)
    link.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    for url in (path, f"{path}/{link.files[0]['document_id']}"):
        r = client.get(url)
        assert r.status_code == 410 and "Ce lien de téléchargement a expiré" in _text(r)
    mailbox.clear()
    staff_client, _ = signed_in_client(app, "agent")
    r = staff_client.post(f"/backoffice/requests/{req.reference}/fulfilment/links/{link.id}/reissue")
    assert r.status_code == 303
    run_jobs()
    [mail] = mailbox.wait_for(1)
    new_path = LINK.search(mailbox.text(mail)).group(1)
    assert new_path != path
    # The old link stays dead (replaced), the new one works in the already unlocked browser.
    assert client.get(path).status_code == 410
    db.session.expire_all()
    new_link = db.session.scalars(sa.select(DownloadLink).where(DownloadLink.replaces_id == link.id)).one()
    got = client.get(f"{new_path}/{new_link.files[1]['document_id']}")
    assert got.status_code == 200 and hashlib.sha256(got.data).hexdigest() == new_link.files[1]["sha256"]


def test_a_replaced_link_is_refused(app, client, policy, mailbox, run_jobs):
    req, token, path = _answered(app, policy, mailbox, run_jobs)
    _, actor = staff_actor()
    fulfilment.reissue_link(db.session.get(DataRequest, req.id), actor, req.download_links[0].id)
    db.session.commit()
    r = client.get(path)
    assert r.status_code == 410 and "remplacé par un plus récent" in _text(r)


def test_a_link_whose_files_were_purged_is_refused(app, client, policy, mailbox, run_jobs):
    from dsar.jobs.fulfilment import purge_delivered_files

    req, token, path = _answered(app, policy, mailbox, run_jobs)
    _unlock(client, path, token)
    link = db.session.get(DownloadLink, req.download_links[0].id)
    link.purge_after = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert purge_delivered_files() == 1
    for url in (path, f"{path}/{link.files[1]['document_id']}"):
        r = client.get(url)
        assert r.status_code == 410 and "ont été supprimés" in _text(r)
    # The hashes of what was sent are still there.
    db.session.expire_all()
    assert db.session.get(DownloadLink, link.id).files[1]["sha256"] == link.files[1]["sha256"]


def test_the_download_page_speaks_the_requesters_language(app, client, policy, mailbox, run_jobs):
    _, token, path = _answered(app, policy, mailbox, run_jobs, language="en")
    html = client.get(path).get_data(as_text=True)
    assert "Confirm it is you" in html and "Your status link" in html
    _unlock(client, path, token)
    assert "Each download is recorded." in client.get(path).get_data(as_text=True)


# --- the back-office follow-up ------------------------------------------------------------------------------


def _erasure_with_tasks(policy):
    _, actor = staff_actor()
    pro = make_professional()
    req = new_request(policy, type="erasure", subject_kind="patient")
    db.session.add(ProfessionalTask(request=req, professional=pro, expires_at=utcnow() + timedelta(days=30)))
    db.session.flush()
    actions.answer(req, actor, outcome="granted", message="Effacé.")
    db.session.commit()
    return req, pro


def test_the_request_page_shows_the_follow_up_and_its_forms(app, policy):
    req, _ = _erasure_with_tasks(policy)
    staff_client, _ = signed_in_client(app, "dpo")
    html = _text(staff_client.get(f"/backoffice/requests/{req.reference}/fulfilment"))
    assert "Réponse et suites" in html and "Plan d'effacement" in html and "Archivé" in html
    assert "Destinataires à informer (RGPD art. 19" in html and "Amazon Web Services EMEA" in html
    assert "non renseigné dans la politique" in html
    assert "/fulfilment/recipients/" in html and 'name="csrf_token"' in html
    page = staff_client.get(f"/backoffice/requests/{req.reference}")
    assert page.status_code == 200 and 'id="fulfilment"' in _text(page)


def test_staff_notify_a_recipient_and_close_another_as_impossible(app, policy, mailbox, run_jobs):
    req, pro = _erasure_with_tasks(policy)
    run_jobs()
    mailbox.clear()
    staff_client, staff = signed_in_client(app, "agent")
    tasks = {t.recipient_key: t.id for t in req.recipient_notifications}
    base = f"/backoffice/requests/{req.reference}/fulfilment/recipients"
    r = staff_client.post(f"{base}/{tasks['professional_users']}/notified", data={"message": "Fiche à supprimer."})
    assert r.status_code == 303
    run_jobs()
    assert any(m["To"] == pro.email for m in mailbox.wait_for(1))
    # Closing as impossible without a reason: the form comes back, the error tied to its field, nothing saved.
    r = staff_client.post(f"{base}/{tasks['aws']}/impossible", data={"reason": ""})
    html = _text(r)
    assert r.status_code == 422 and "Indiquez pourquoi informer ce destinataire" in html
    assert f'aria-describedby="fx-recipient-{tasks["aws"]}-reason-error"' in html
    r = staff_client.post(f"{base}/{tasks['aws']}/impossible", data={"reason": "Aucune copie distincte."})
    assert r.status_code == 303
    r = staff_client.post(f"{base}/{tasks['aws']}/impossible", data={"reason": "Encore."})
    assert r.status_code == 409 and "déjà close" in _text(r)
    db.session.expire_all()
    closed = {t.recipient_key: t for t in db.session.get(DataRequest, req.id).recipient_notifications}
    assert closed["professional_users"].status == "notified" and closed["professional_users"].closed_by == staff.name
    assert closed["aws"].status == "impossible" and closed["aws"].reason == "Aucune copie distincte."


def test_auditors_read_the_follow_up_but_cannot_act(app, policy):
    req, _ = _erasure_with_tasks(policy)
    auditor, _ = signed_in_client(app, "auditor")
    assert auditor.get(f"/backoffice/requests/{req.reference}/fulfilment").status_code == 200
    task_id = req.recipient_notifications[0].id
    r = auditor.post(f"/backoffice/requests/{req.reference}/fulfilment/recipients/{task_id}/impossible",
                     data={"reason": "x"})
    assert r.status_code == 403
    anonymous = app.test_client()
    assert anonymous.post(f"/backoffice/requests/{req.reference}/fulfilment/letters", data={"kind": "x"}).status_code == 401


def test_staff_upload_portable_data_and_a_bad_file_gets_a_message(app, policy):
    import io

    req = new_request(policy, type="portability", subject_kind="patient")
    db.session.commit()
    staff_client, _ = signed_in_client(app, "dpo")
    url = f"/backoffice/requests/{req.reference}/fulfilment/portable-data"
    r = staff_client.post(url, data={"category": "application.identification",
                                     "dataset": (io.BytesIO(b"nom,prenom\nDupont,Jeanne\n"), "export.csv")},
                          content_type="multipart/form-data")
    assert r.status_code == 303
    r = staff_client.post(url, data={"category": "application.identification",
                                     "dataset": (io.BytesIO(b"%PDF-1.4 not data"), "export.csv")},
                          content_type="multipart/form-data")
    assert r.status_code == 422 and "Ce n'est pas un fichier JSON ou CSV" in _text(r)
    r = staff_client.post(url, data={"category": "application.usage_statistics",
                                     "dataset": (io.BytesIO(b"a\n1\n"), "x.csv")}, content_type="multipart/form-data")
    assert r.status_code == 422 and "fournies par la personne" in _text(r)
    db.session.expire_all()
    [ds] = db.session.get(DataRequest, req.id).portable_datasets
    assert ds.columns == ["nom", "prenom"] and ds.records == 1


def test_staff_send_a_letter_by_hand(app, policy, mailbox, run_jobs):
    req = new_request(policy, type="rectification")
    db.session.commit()
    staff_client, _ = signed_in_client(app, "agent")
    url = f"/backoffice/requests/{req.reference}/fulfilment/letters"
    assert staff_client.post(url, data={"kind": "answer_everything"}).status_code == 422
    r = staff_client.post(url, data={"kind": "clarification"})
    assert r.status_code == 422 and "Aucune précision n'a été demandée" in _text(r)
    assert staff_client.post(url, data={"kind": "acknowledgement"}).status_code == 303
    run_jobs()
    [mail] = mailbox.wait_for(1)
    assert mail["To"] == req.requester.email and "/download/" in mailbox.text(mail)
    db.session.expire_all()
    [letter] = [d for d in db.session.get(DataRequest, req.id).documents if d.kind == "letter"]
    assert letter.display_name.startswith("accuse-reception-")
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) >= 1
    assert db.session.scalar(sa.select(sa.func.count(Document.id))) == 1
