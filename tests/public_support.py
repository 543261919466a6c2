"""Helpers for the public-journey tests: requests made through the real services, links from the real emails."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from dsar.actors import Actor
from dsar.extensions import db
from dsar.models.enums import ActorType
from dsar.services import intake
from dsar.tokens import status_token

PUBLIC = Actor(ActorType.REQUESTER, None, "requester", ip="203.0.113.5")

FORM = {
    "type": "access",
    "subject_kind": "prospect",
    "acting_for": "self",
    "subject_first_name": "Jeanne",
    "subject_last_name": "Dupont",
    "subject_email": "jeanne@example.test",
    "accuracy": "1",
}


def web_request(*, confirm: bool = True, email: str = "jeanne@example.test", language: str = "fr", **overrides):
    """A web request (confirmed unless asked otherwise), committed. Returns (request, status token)."""
    values = dict(type="access", subject={"kind": "prospect", "first_name": "Jeanne", "last_name": "Dupont",
                                          "email": email},
                  requester=None, channel="web", language=language, actor=PUBLIC)
    values.update(overrides)
    req = intake.submit_request(**values)
    if confirm:
        intake.confirm_email(intake.confirmation_token(req))
    token = status_token(req)
    db.session.commit()
    return req, token


def link_in(text: str, kind: str) -> str:
    """The path of the first /<kind>/<token> link in an email body."""
    found = re.search(r"https?://[^/\s]+(/%s/[A-Za-z0-9._\-]+)" % kind, text)
    assert found, f"no /{kind}/ link in: {text[:500]}"
    return found.group(1)


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def field_error(html: str, name: str) -> str | None:
    found = re.search(r'<p class="field-error" id="%s-error">(.*?)</p>' % re.escape(name), html, re.S)
    if not found:
        return None
    return re.sub(r"<[^>]+>", "", found.group(1)).replace("&#39;", "'").replace("Erreur : ", "").replace("Error: ", "")


class Page(HTMLParser):
    """The parts of a page the accessibility checks need: inputs, labels, ids, scripts, inline styles."""

    def __init__(self, html: str):
        super().__init__()
        self.inputs: list[dict] = []
        self.labels_for: set[str] = set()
        self.ids: set[str] = set()
        self.scripts: list[dict] = []
        self.inline_styles = 0
        self.event_handlers = 0
        self.links: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if "style" in a:
            self.inline_styles += 1
        self.event_handlers += sum(1 for k in a if k.startswith("on"))
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.inputs.append(a)
        elif tag == "label" and "for" in a:
            self.labels_for.add(a["for"])
        elif tag == "script":
            self.scripts.append(a)
        elif tag == "style":
            self.inline_styles += 1
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
