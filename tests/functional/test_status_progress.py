"""The requester's status page (issue 18): a progress line in plain words with the deadline, and an error summary
whose entries each name their field."""
from __future__ import annotations

import html as html_lib
import io
import re

from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import DataRequest
from dsar.services import actions
from factories import make_staff
from hostile_files import valid_pdf
from public_support import web_request


def _steps(res) -> list[tuple[str, str]]:
    html = html_lib.unescape(res.get_data(as_text=True))
    block = re.search(r'<ol class="progress"[^>]*>(.*?)</ol>', html, re.S).group(1)
    return [(state, " ".join(re.sub(r"<[^>]+>", " ", body).split()))
            for state, body in re.findall(r'<li class="progress-(\w+)"[^>]*>(.*?)</li>', block, re.S)]


def test_the_progress_line_follows_the_request_with_the_deadline(client, policy):
    req, token = web_request()
    steps = _steps(client.get(f"/status/{token}"))
    assert [s for s, _ in steps] == ["done", "current", "todo", "todo"]
    assert "Demande reçue (fait)" in steps[0][1]
    assert "Identité vérifiée (étape en cours)" in steps[1][1]
    assert "dans le mois qui suit la vérification de votre identité" in steps[3][1]

    client.post(f"/status/{token}/document", data={"document": (io.BytesIO(valid_pdf()), "cni.pdf")},
                content_type="multipart/form-data")
    dpo = Actor.for_staff(make_staff("dpo"))
    fresh = db.session.get(DataRequest, req.id)
    actions.verify_identity(fresh, dpo)
    db.session.commit()
    page = client.get(f"/status/{token}")
    steps = _steps(page)
    assert [s for s, _ in steps] == ["done", "done", "current", "todo"]
    due = db.session.get(DataRequest, req.id).due_date
    assert f"au plus tard le {due.day} " in steps[3][1] and str(due.year) in steps[3][1]
    assert 'aria-current="step"' in page.get_data(as_text=True)

    english = _steps(client.get(f"/status/{token}?lang=en"))
    assert [label.split(" (")[0] for _, label in english][:3] == ["Request received", "Identity checked",
                                                                    "Request in progress"]
    assert english[3][1].startswith("Answer sent") and "at the latest" in english[3][1]


def test_each_error_summary_entry_names_its_field(client):
    res = client.post("/request/new", data={"type": "access", "acting_for": "other"},
                      headers={"Accept-Language": "fr"})
    assert res.status_code == 422
    html = html_lib.unescape(res.get_data(as_text=True))
    summary = re.search(r'<div class="error-summary".*?</ul>', html, re.S).group(0)
    entries = re.findall(r'<li><a href="#field-([^"]+)">([^<]+)</a></li>', summary)
    assert len(entries) >= 4
    assert all(message != "Ce champ est obligatoire." for _, message in entries), entries
    messages = dict(entries)
    assert messages["subject_first_name"] == "Indiquez le prénom de la personne concernée par les données."
    assert messages["subject_last_name"] == "Indiquez le nom de la personne concernée par les données."
    assert messages["requester_first_name"] == "Indiquez votre prénom."
    assert messages["requester_last_name"] == "Indiquez votre nom."
