"""Keep an area's French catalogue in step with its sources.

    .venv/bin/python scripts/update_catalog.py DIR SOURCE...   # DIR holds fr/LC_MESSAGES/messages.po

Extracts the msgids of SOURCE (files or folders) with babel.cfg's keywords, adds
the new ones to DIR's catalogue (untranslated), drops none, and lists what still
lacks a French translation. Translations are written by a person, in the .po file.
"""
from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "N_": None,
            "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3)}


def method_for(path: Path) -> str | None:
    if path.suffix == ".py":
        return "python"
    if path.suffix in {".html", ".txt"} and "templates" in path.parts:
        return "jinja2"
    return None


def extract(sources: list[Path]):
    for src in sources:
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for f in files:
            method = method_for(f)
            if not method:
                continue
            opts = {"extensions": "jinja2.ext.i18n"} if method == "jinja2" else {}
            for lineno, msg, comments, context in extract_from_file(method, str(f), keywords=KEYWORDS, options=opts):
                yield (msg if isinstance(msg, str) else msg[0]), f"{f.relative_to(ROOT)}:{lineno}"


def main(argv: list[str]) -> int:
    target = Path(argv[0])
    po_path = target / "fr" / "LC_MESSAGES" / "messages.po"
    catalog = read_po(po_path.open("rb"), locale="fr") if po_path.exists() else Catalog(locale="fr", project="dsar", fuzzy=False)
    for msgid, where in extract([Path(a).resolve() for a in argv[1:]]):
        if msgid not in catalog:
            catalog.add(msgid, "", locations=[(where, 0)])
    po_path.parent.mkdir(parents=True, exist_ok=True)
    with po_path.open("wb") as fh:
        write_po(fh, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False)
    missing = [m.id for m in catalog if m.id and not m.string]
    for m in missing:
        print(f"untranslated: {m!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
