"""Identity documents through the HTTP upload: hostile files refused with a clear message and nothing stored;
good ones stored encrypted under a random name, never reachable by a URL; the size limit holds before reading."""
import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsar.extensions import db
from dsar.files import FileStore, generate_key
from dsar.models import DataRequest, Document, Event
from dsar.services import documents
from dsar.services.documents import REJECTION_MESSAGES
from hostile_files import hostile_corpus, tolerated_corpus, valid_jpeg, valid_pdf
from public_support import csrf_token, field_error, web_request

# What the French page says for each refusal code (the message people read).
FRENCH = {
    "empty": "Le fichier est vide.",
    "too_large": "Le fichier est trop volumineux. La limite est de 10 Mo.",
    "type_not_accepted": "Ce type de fichier n'est pas accepté. Envoyez un fichier PDF, JPEG ou PNG.",
    "mismatch": "Le contenu du fichier ne correspond pas à un fichier PDF, JPEG ou PNG.",
    "truncated": "Le fichier est incomplet : il a sans doute été tronqué lors d'une copie ou d'un envoi.",
    "encrypted": "Le PDF est protégé par un mot de passe. Envoyez-le sans mot de passe.",
    "active_content": "Le PDF contient des scripts, des pièces jointes, des formulaires ou des actions automatiques. "
                      "Envoyez un scan, ou imprimez-le dans un nouveau PDF.",
    "corrupt": "Le fichier est endommagé et ne peut pas être lu.",
    "polyglot": "Le fichier contient un autre fichier (une archive, par exemple) dissimulé à l'intérieur.",
    "trailing_data": "L'image contient des données supplémentaires après sa fin. Enregistrez-la ou exportez-la à nouveau.",
    "too_many_pixels": "L'image compte trop de pixels. Envoyez une image plus petite.",
    "too_complex": "Le fichier est trop complexe pour être vérifié. Envoyez un fichier plus simple, un scan par exemple.",
    "page_too_large": "Une page du PDF dépasse le format A3. Envoyez un scan du document à sa taille réelle.",
}
LIMIT = 10 * 1024 * 1024     # workflows/idomed.yaml identity.max_size_bytes
CORPUS = hostile_corpus(LIMIT)


def stored_files(app) -> list[Path]:
    root = Path(app.config["DSAR_FILES_DIR"])
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def post_file(client, token, content, filename, declared, kind="identity", **kw):
    return client.post(f"/status/{token}/document",
                       data={"kind": kind, "document": (io.BytesIO(content), filename, declared)},
                       content_type="multipart/form-data", headers={"Accept-Language": "fr"}, **kw)


def test_the_corpus_covers_at_least_15_kinds_of_hostile_file_and_every_refusal_code():
    assert len(CORPUS) >= 15
    assert {h.expected_error for h in CORPUS} == set(FRENCH)
    assert set(FRENCH) <= set(REJECTION_MESSAGES)


@pytest.mark.parametrize("hostile", CORPUS, ids=[h.name for h in CORPUS])
def test_a_hostile_or_broken_file_is_refused_with_a_clear_message_and_nothing_is_stored(app, client, hostile):
    req, token = web_request()
    events_before = db.session.scalar(sa.select(sa.func.count(Event.id)))
    res = post_file(client, token, hostile.content, hostile.filename, hostile.declared_type)
    expected_status = {"too_large": 413, "type_not_accepted": 415}.get(hostile.expected_error, 422)
    assert res.status_code == expected_status
    html = res.get_data(as_text=True)
    assert field_error(html, "document") == FRENCH[hostile.expected_error]
    assert 'aria-invalid="true"' in html and "document-error" in html
    # Nothing stored: no row, no file, no event, no change of status.
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(Document.id))) == 0
    assert stored_files(app) == []
    assert db.session.scalar(sa.select(sa.func.count(Event.id))) == events_before
    assert db.session.get(DataRequest, req.id).status == "awaiting_identity"


@pytest.mark.parametrize("good", tolerated_corpus(), ids=[t.name for t in tolerated_corpus()])
def test_unusual_but_legitimate_files_are_accepted_as_what_their_content_is(app, client, good):
    req, token = web_request()
    res = post_file(client, token, good.content, good.filename, good.declared_type)
    assert res.status_code == 303, field_error(res.get_data(as_text=True), "document")
    doc = db.session.scalars(sa.select(Document)).one()
    assert doc.mime == good.expected_mime and doc.size == len(good.content)


def test_a_body_announced_over_the_limit_is_refused_before_it_is_read(app, client):
    req, token = web_request()
    # The declared length is 30 MB; the body is 10 bytes. Reading it would hang or fail: the answer comes first.
    res = client.post(f"/status/{token}/document", data=b"0123456789",
                      content_type="multipart/form-data; boundary=x",
                      environ_overrides={"CONTENT_LENGTH": str(30 * 1024 * 1024)})
    assert res.status_code == 413
    assert field_error(res.get_data(as_text=True), "document") == FRENCH["too_large"]
    assert stored_files(app) == []


def test_a_document_is_stored_encrypted_under_a_random_name_and_no_url_reaches_it(app, client):
    req, token = web_request()
    secret = valid_pdf()
    res = post_file(client, token, secret, "Jeanne_Dupont_CNI.pdf", "application/pdf")
    assert res.status_code == 303
    doc = db.session.scalars(sa.select(Document)).one()
    [path] = stored_files(app)
    assert path.name == doc.storage_name and "Jeanne" not in path.name and "cni" not in path.name.lower()
    assert secret not in path.read_bytes() and b"%PDF" not in path.read_bytes()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert documents.read_document(doc) == secret
    # Not under static/, not under any route; the status page never links it.
    page = client.get(f"/status/{token}").get_data(as_text=True)
    assert doc.storage_name not in page and "Jeanne_Dupont_CNI.pdf" in page
    for url in (f"/static/{doc.storage_name}", f"/files/{doc.storage_name}", f"/{doc.storage_name}",
                f"/static/../files/{doc.storage_name}", f"/documents/{doc.id}"):
        assert client.get(url).status_code == 404, url


def test_the_file_keys_can_be_rotated(make_app, tmp_path, monkeypatch):
    old = generate_key()
    monkeypatch.setenv("DSAR_FILE_KEYS", old)
    app = make_app(DSAR_FILES_DIR=str(tmp_path / "rot"))
    with app.app_context():
        req, token = web_request()
        assert post_file(app.test_client(), token, valid_jpeg(), "cni.jpg", "image/jpeg").status_code == 303
        doc_id = db.session.scalars(sa.select(Document.id)).one()
    new = generate_key()
    # The new key first (it encrypts), the old one still decrypts; rotate; then the old key can go.
    assert FileStore(tmp_path / "rot", [new, old]).rotate_all() == 1
    monkeypatch.setenv("DSAR_FILE_KEYS", new)
    rotated = make_app(DSAR_FILES_DIR=str(tmp_path / "rot"))
    with rotated.app_context():
        assert documents.read_document(db.session.get(Document, doc_id)) == valid_jpeg()


def test_an_upload_when_no_document_is_expected_is_a_clear_409(app, client):
    req, token = web_request(confirm=False)
    from dsar.tokens import status_token

    res = post_file(client, token, valid_jpeg(), "cni.jpg", "image/jpeg")
    assert res.status_code == 409
    assert "Confirmez d'abord votre adresse e-mail" in res.get_data(as_text=True).replace("&#39;", "'")
    db.session.get(DataRequest, req.id).status = "withdrawn"
    db.session.commit()
    res = post_file(client, status_token(db.session.get(DataRequest, req.id)), valid_jpeg(), "cni.jpg", "image/jpeg")
    assert res.status_code == 409
    assert "Aucun document n'est attendu" in res.get_data(as_text=True).replace("&#39;", "'")
    assert stored_files(app) == []


def test_no_file_chosen_and_a_wrong_kind_are_told_next_to_the_field(app, client):
    req, token = web_request()
    res = client.post(f"/status/{token}/document", data={"kind": "identity"}, content_type="multipart/form-data")
    assert res.status_code == 422 and field_error(res.get_data(as_text=True), "document") == "Choisissez un fichier à envoyer."
    res = post_file(client, token, valid_jpeg(), "cni.jpg", "image/jpeg", kind="authority")
    assert res.status_code == 422 and "qualité pour agir" in field_error(res.get_data(as_text=True), "document")
    rep, rep_token = web_request(email="parent@example.test", subject={"kind": "patient", "first_name": "Léo",
                                 "last_name": "Dupont", "birth_date": "2015-01-31"},
                                 requester={"relationship": "parent", "first_name": "Jeanne", "last_name": "Dupont",
                                            "email": "parent@example.test"})
    res = post_file(client, rep_token, valid_jpeg(), "cni.jpg", "image/jpeg", kind="answer")
    html = res.get_data(as_text=True)
    assert res.status_code == 422 and field_error(html, "kind") == "Indiquez quel document vous envoyez."
    assert 'name="kind" value="authority"' in html
    assert stored_files(app) == []


def test_with_csrf_on_an_upload_without_the_token_is_refused_and_nothing_is_stored(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        req, token = web_request()
        client = app.test_client()
        res = post_file(client, token, valid_jpeg(), "cni.jpg", "image/jpeg")
        assert res.status_code == 400 and "formulaire a expiré" in res.get_data(as_text=True)
        assert stored_files(app) == []
        page = client.get(f"/status/{token}").get_data(as_text=True)
        res = client.post(f"/status/{token}/document", data={
            "csrf_token": csrf_token(page), "kind": "identity",
            "document": (io.BytesIO(valid_jpeg()), "cni.jpg", "image/jpeg")}, content_type="multipart/form-data")
        assert res.status_code == 303 and len(stored_files(app)) == 1
