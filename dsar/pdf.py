"""Letters rendered to PDF with WeasyPrint, from ``templates/pdf/``, in the requester's language.

A pure renderer: the caller hands it the letter's context (``services.fulfilment.letters`` builds it from the
policy and the request); this module imports nothing of the services.

Rendering never reaches the network: the URL fetcher refuses every URL (the
templates need none: styles are inline and the fonts are the system's DejaVu),
so text a requester typed cannot make the server fetch anything.

The layout (WeasyPrint) runs in a child process with capped memory and CPU
(``dsar.letter_renderer``, issue 19 item 10): the process that builds the HTML never
imports WeasyPrint, so a web worker stays small. Measured here (2 shared cores, warm
child): a one- or two-page letter renders in 60–120 ms, the six-page access letter in
about 0.3 s; the first letter of a process adds about 1.5 s (starting the child,
loading the fonts). So letters are still rendered in the transaction of the action
that causes them: the letter, its stored copy and the email announcing it land
together or not at all; a layout that fails or runs out of time is ``LetterNotRendered``
and the action is rolled back.
"""
from __future__ import annotations

from contextlib import contextmanager

from flask import current_app, g, render_template
from flask_babel import force_locale

from .deadlines import legal_day
from .errors import N_, Unavailable
from .formatting import long_date
from .letter_renderer import RenderFailed, no_network_fetcher as _no_network_fetcher  # noqa: F401 - tests use it
from .letter_renderer import render as _layout
from .models import utcnow


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


class LetterNotRendered(Unavailable):
    """The layout failed or ran out of time or memory (``letter_renderer``): nothing was done, the action can
    be tried again. A 503 (the server's fault, not the client's) with a clear message, rather than a bare 500."""

    code = "letter_not_rendered"


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
    """The letter ``kind`` as PDF bytes, in ``language`` (fr or en), from the context its caller built.

    The HTML is built here; its layout runs in the renderer child (``letter_renderer``). LetterNotRendered
    when the child fails, times out or runs out of memory."""
    html = render_html(kind, language, context)
    req = context.get("req")
    identifier = f"{getattr(req, 'reference', '') or 'dsar'}-{kind}".encode("ascii", "replace")[:64]
    try:
        return _layout(html, identifier)
    except RenderFailed:
        raise LetterNotRendered(N_("The letter could not be drawn, so nothing was done. Try again in a moment; "
                                   "if it fails again, tell the DPO.")) from None
