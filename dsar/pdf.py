"""Letters rendered to PDF with WeasyPrint, from ``templates/pdf/``, in the requester's language.

A pure renderer: the caller hands it the letter's context (``services.fulfilment.letters`` builds it from the
policy and the request); this module imports nothing of the services.

Rendering never reaches the network: the URL fetcher refuses every URL (the
templates need none: styles are inline and the fonts are the system's DejaVu),
so text a requester typed cannot make the server fetch anything.

Measured here (2 shared cores, warm process): a one- or two-page letter renders
in 60–120 ms, the six-page access letter in about 0.3 s; the first render of a
process adds about 2 s (importing WeasyPrint, loading the fonts). So letters are
rendered in the transaction of the action that causes them: the letter, its
stored copy and the email announcing it land together or not at all.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

from flask import current_app, g, render_template
from flask_babel import force_locale

from .deadlines import legal_day
from .formatting import long_date
from .models import utcnow

log = logging.getLogger(__name__)

#: Every letter the service writes; each is ``templates/pdf/<kind>.html``.
ANSWER_KINDS = tuple(
    f"answer_{t}" for t in (
        "access", "rectification", "erasure", "portability", "restriction", "objection",
        "consent_withdrawal", "post_mortem_directive",
    )
)
LETTER_KINDS = ("acknowledgement", "identity_requested", "clarification", "extension", *ANSWER_KINDS,
                "refusal", "recipients_list")


class LetterError(ValueError):
    """A letter kind that does not exist (a programming error, not a user's)."""


def _no_network_fetcher():
    from weasyprint.urls import URLFetcher

    class NoNetwork(URLFetcher):
        """Refuse every URL: a letter is self-contained, and a fetch is a server-side request forgery."""

        def fetch(self, url, headers=None):
            # Only the scheme is logged: the rest of a URL may carry what a requester typed.
            log.warning("letter rendering refused to fetch a %s: URL", url.split(":", 1)[0][:10])
            raise ValueError("external resources are not fetched when rendering letters")

    return NoNetwork()


@contextmanager
def in_language(language: str):
    """Render templates in ``language`` (Flask-Babel), in or out of a web request."""
    previous = g.get("force_language")
    g.force_language = language
    try:
        with force_locale(language):
            yield
    finally:
        g.force_language = previous


def letter_language(language: str | None) -> str:
    """The language a letter is written in: ``language`` when the service speaks it, else the default."""
    if language in current_app.config["LANGUAGES"]:
        return language
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def render_html(kind: str, language: str, context: dict) -> str:
    """The letter ``kind`` as HTML (what WeasyPrint lays out), from the ``context`` its caller built
    (``services.fulfilment.letters.letter_context``); this module adds only the presentation."""
    if kind not in LETTER_KINDS:
        raise LetterError(f"unknown letter kind {kind!r}")
    language = letter_language(language)
    context = dict(context)
    letter_day = context.get("letter_date") or legal_day(utcnow())
    context.update(
        kind=kind,
        language=language,
        letter_date=letter_day,
        fmt_date=lambda d: long_date(d, language),
    )
    with in_language(language):
        return render_template(f"pdf/{kind}.html", **context)


def render_pdf(kind: str, language: str, context: dict) -> bytes:
    """The letter ``kind`` as PDF bytes, in ``language`` (fr or en), from the context its caller built."""
    from weasyprint import HTML  # local import: WeasyPrint takes about 2 s to load, only processes that render pay

    html = render_html(kind, language, context)
    req = context.get("req")
    # Tagged PDF: screen readers follow the headings, lists and tables of the letter.
    return HTML(string=html, base_url=None, url_fetcher=_no_network_fetcher()).write_pdf(
        pdf_identifier=f"{getattr(req, 'reference', '') or 'dsar'}-{kind}".encode("ascii", "replace")[:64],
        pdf_tags=True,
    )
