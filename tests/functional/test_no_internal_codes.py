"""No person reads an internal code (issue 18): the demo's requests at every stage, rendered in French and in
English — back-office queue, request pages, statistics, the register CSV, the requester's status pages, every
email sent and every letter produced — show labels, never enum values or audit action names."""
from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from dsar.extensions import db
from dsar.lifecycle import RULES
from dsar.models import DataRequest, Document
from dsar.models import enums
from dsar.tokens import status_token
from backoffice_support import signed_in_client
from fulfilment_support import pdf_text, read_stored

ENUMS = (enums.Status, enums.Outcome, enums.TaskStatus, enums.Relationship, enums.Channel, enums.SubjectKind,
         enums.IdentityMethod, enums.ActorType)


def _recorded_actions() -> set[str]:
    """Every action name the code records (audit.record with a literal, and the lifecycle's actions)."""
    from pathlib import Path

    import dsar

    found = set(RULES)
    for path in Path(dsar.__file__).parent.rglob("*.py"):
        found |= set(re.findall(r'audit\.record\([^,]+,\s*"([a-z_]+)"', path.read_text()))
        found |= set(re.findall(r'_record\([^,]+,\s*[^,]+,\s*"([a-z_]+)"', path.read_text()))
    return found


# Codes that are unmistakable in any language: they contain an underscore.
CODES = sorted({v.value for e in ENUMS for v in e if "_" in v.value} | {a for a in _recorded_actions() if "_" in a})
# English codes a French page must not show either (the word is not French).
ENGLISH_WORDS = ("open", "answered", "granted", "refused", "heir", "overdue", "acknowledged", "declined",
                 "cancelled", "access", "erasure", "portability", "guardian", "executor", "mandatary", "staff",
                 "requester", "professional", "prospect", "identity_review")


class _Visible(HTMLParser):
    """The text a person reads: text nodes outside script/style, and the labels read aloud (aria-label, title)."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "title", "placeholder", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def codes_in(text: str, lang: str) -> list[str]:
    found = [c for c in CODES if re.search(rf"(?<![\w/.-]){re.escape(c)}(?![\w/.-])", text)]
    if lang == "fr":
        found += [w for w in ENGLISH_WORDS if re.search(rf"(?<![\w/.-@]){w}(?![\w/.@-])", text)]
    return found


@pytest.fixture
def demo(app, runner, run_jobs, mailbox):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    run_jobs()
    return db.session.scalars(sa.select(DataRequest).order_by(DataRequest.id)).all()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_no_page_csv_email_or_letter_shows_an_internal_code(app, demo, mailbox, lang):
    client, _ = signed_in_client(app, "dpo")
    client.get(f"/backoffice/?lang={lang}")
    problems: dict[str, list[str]] = {}

    def check(where: str, text: str):
        found = codes_in(text, lang)
        if found:
            problems[where] = [(c, text[max(0, m.start() - 60):m.end() + 20]) for c in found
                               for m in [re.search(rf"(?<![\w/.-]){re.escape(c)}(?![\w/.-])", text)] if m]

    assert len(demo) >= 7
    for path in ["/backoffice/", "/backoffice/stats", "/backoffice/register"] + [
            f"/backoffice/requests/{r.reference}" for r in demo]:
        res = client.get(path)
        assert res.status_code == 200, path
        check(path, visible(res.get_data(as_text=True)))

    register = client.get("/backoffice/register.csv").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(register), delimiter=";"))
    assert len(rows) > len(demo) // 2
    check("register.csv", " ".join(" ".join(r) for r in rows))

    public = app.test_client()
    for r in demo:
        res = public.get(f"/status/{status_token(r)}?lang={lang}")
        assert res.status_code == 200
        check(f"status page of {r.reference}", visible(res.get_data(as_text=True)))

    # Emails and letters are written in the request's language; the demo's requests are French and English.
    for message in mailbox.messages:
        check(f"email {message['Subject']}", mailbox.text(message))
    letters = db.session.scalars(sa.select(Document).where(Document.kind == "letter")).all()
    assert letters, "the demo produces letters"
    for doc in letters:
        check(f"letter {doc.display_name}", pdf_text(read_stored(doc)))

    assert not problems, problems


def test_every_recorded_action_has_a_label():
    from dsar.labels import EVENT_LABELS

    missing = sorted(a for a in _recorded_actions() if a not in EVENT_LABELS and not a.startswith(("account_", "api_key",
                     "login", "logout", "password", "totp", "webhook", "demo", "reminders")))
    assert not missing, missing


def test_one_word_for_email_across_the_french_service():
    """Issue 18: the public side said "e-mail", the back-office "adresse électronique" and "courriel"."""
    from pathlib import Path

    from babel.messages.pofile import read_po

    import dsar

    found = []
    paths = list(Path(dsar.__file__).parent.rglob("translations/fr/LC_MESSAGES/messages.po"))
    assert len(paths) >= 5
    for path in paths:
        with open(path, "rb") as fh:
            for message in read_po(fh):
                strings = message.string if isinstance(message.string, tuple) else (message.string,)
                for text in strings:
                    text = re.sub(r"%\(\w+\)s", "", text or "")
                    if re.search(r"courriel|adresse électronique|(?<![-\w])[Ee]mail(?![\w-])", text):
                        found.append(text)
    assert not found, found
