"""Every user-facing string has a French translation (French is the default language)."""
import importlib.util
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


def _extractor():
    spec = importlib.util.spec_from_file_location("update_catalog", ROOT / "scripts" / "update_catalog.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def french_catalogue() -> dict[str, str]:
    merged = {}
    for po in (ROOT / "dsar").rglob("translations/fr/LC_MESSAGES/messages.po"):
        for m in read_po(po.open("rb"), locale="fr"):
            if m.id and m.string:
                merged[m.id if isinstance(m.id, str) else m.id[0]] = m.string
    return merged


def test_every_message_in_code_and_templates_has_a_french_translation():
    mod = _extractor()
    fr = french_catalogue()
    missing = sorted({f"{where}: {msgid!r}" for msgid, where in mod.extract([ROOT / "dsar", ROOT / "templates"])
                      if msgid not in fr})
    assert missing == [], "untranslated:\n" + "\n".join(missing[:50])


def test_the_default_pages_are_in_french(client):
    html = client.get("/", headers={"Accept-Language": ""}).get_data(as_text=True)
    assert "Exercez vos droits sur vos données personnelles" in html
