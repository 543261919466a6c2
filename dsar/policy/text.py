"""The policy's sentences: English message ids with parameters, rendered in a language from the catalogue.

The rights evaluator and the erasure planner explain themselves in every language the service speaks. They
return ``Text`` values instead of sentences: an English msgid marked with ``N_`` (so that ``pybabel extract``
finds it) and its parameters; ``text[lang]`` renders it through Babel from ``dsar/translations``. A ``Text``
is a read-only mapping language -> sentence, like the policy file's own ``{fr: …, en: …}`` texts, so a caller
reads either with ``localized(text, lang)``. A new language needs only a catalogue
(``dsar/translations/<lang>/LC_MESSAGES/messages.po``).

Parameters are rendered in the same language: a ``Text`` is rendered, a mapping from the policy file (the
controller's own wording) is read with ``localized``, anything else is used as it is.

No Flask here: the policy is read and evaluated outside a request too (start-up checks, jobs, tests), so the
catalogue is read with Babel itself, not through Flask-Babel's request locale.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Iterator

from babel.support import NullTranslations, Translations

__all__ = ["Text", "Message", "Concat", "Lazy", "gettext", "ngettext", "pgettext", "join_words", "languages", "localized", "render"]

#: dsar-level catalogue (the one Flask-Babel also merges for the pages and letters).
CATALOGUE = Path(__file__).resolve().parent.parent / "translations"
#: The language the message ids are written in.
SOURCE_LANGUAGE = "en"


@functools.lru_cache(maxsize=1)
def languages() -> tuple[str, ...]:
    """The languages a ``Text`` speaks: every catalogue of ``dsar/translations``, then English (the msgids)."""
    found = sorted(p.name for p in CATALOGUE.iterdir() if (p / "LC_MESSAGES").is_dir()) if CATALOGUE.is_dir() else []
    return tuple(dict.fromkeys([*found, SOURCE_LANGUAGE]))


@functools.lru_cache(maxsize=16)
def _catalogue(lang: str) -> NullTranslations:
    return Translations.load(str(CATALOGUE), [lang])


def gettext(message: str, lang: str) -> str:
    """``message`` (an English msgid) in ``lang``; the msgid itself where the catalogue has no translation."""
    return _catalogue(lang).gettext(message)


def _pgettext(context: str, message: str, lang: str) -> str:
    return _catalogue(lang).pgettext(context, message)


def ngettext(singular: str, plural: str, n: int, lang: str) -> str:
    """The plural form of ``singular``/``plural`` for ``n`` in ``lang``."""
    return _catalogue(lang).ngettext(singular, plural, n)


def localized(d: Mapping[str, Any] | None, lang: str) -> Any:
    """``d[lang]``, else the French text, else any; ``""`` for nothing."""
    if not d:
        return ""
    if lang in d:
        return d[lang]
    if "fr" in d:
        return d["fr"]
    return next(iter(d.values()))


def render(value: Any, lang: str) -> Any:
    """A parameter in ``lang``: a ``Text`` rendered, a policy text (language -> text) localized, else as is."""
    if isinstance(value, Text):
        return value.render(lang)
    if isinstance(value, Mapping):
        return localized(value, lang)
    return value


class Text(Mapping[str, str]):
    """A sentence in every language of ``languages()``; ``text[lang]`` renders it."""

    __slots__ = ()

    def render(self, lang: str) -> str:
        raise NotImplementedError

    def __getitem__(self, lang: str) -> str:
        if lang not in languages():
            raise KeyError(lang)
        return self.render(lang)

    def __iter__(self) -> Iterator[str]:
        return iter(languages())

    def __len__(self) -> int:
        return len(languages())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.render(SOURCE_LANGUAGE)!r})"


class Message(Text):
    """An English msgid (marked with ``N_``) and its ``%(name)s`` parameters; ``context``: gettext's msgctxt,
    for one English text that has two translations (see ``pgettext``)."""

    __slots__ = ("msgid", "params", "context")

    def __init__(self, msgid: str, /, *, context: str | None = None, **params: Any):
        self.msgid = msgid
        self.params = params
        self.context = context

    def render(self, lang: str) -> str:
        text = gettext(self.msgid, lang) if self.context is None else _pgettext(self.context, self.msgid, lang)
        if not self.params:
            return text
        return text % {name: render(value, lang) for name, value in self.params.items()}


class Concat(Text):
    """Parts rendered in the same language and joined with ``sep`` (punctuation, not words)."""

    __slots__ = ("parts", "sep")

    def __init__(self, *parts: Any, sep: str = ""):
        self.parts = parts
        self.sep = sep

    def render(self, lang: str) -> str:
        return self.sep.join(str(render(part, lang)) for part in self.parts)


class Lazy(Text):
    """A text computed per language by ``fn(lang)`` (e.g. ``Duration.describe``)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[str], str]):
        self.fn = fn

    def render(self, lang: str) -> str:
        return self.fn(lang)


def pgettext(context: str, message: str) -> Message:
    """``message`` in ``context`` ("public health" is "la santé publique" as a legal basis, "santé publique" as a
    retention ground). Named like gettext's ``pgettext`` so that ``pybabel extract`` (whose default keywords
    include it) records the msgctxt; rendered per language like any ``Message``."""
    return Message(message, context=context)


def join_words(items: list[Any], msgid: str) -> Lazy:
    """Items joined two by two with ``msgid`` ("%(first)s and %(second)s"), in each language."""

    def fold(lang: str) -> str:
        out = ""
        for i, item in enumerate(items):
            text = str(render(item, lang))
            out = text if i == 0 else gettext(msgid, lang) % {"first": out, "second": text}
        return out

    return Lazy(fold)
