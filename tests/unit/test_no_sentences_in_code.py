"""Issue 15: no sentences in Python. Text a person reads is an English msgid that the catalogue sees
(`_`, `N_`, `pgettext`…), rendered through Babel; a third language then needs only a catalogue.

What this catches: a branch on the language (`if lang == "fr"`) and a literal holding the same text in two
languages (`{"fr": "…", "en": "…"}`, or file names per language). Data a controller writes in its policy file (both languages) is data, not code.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "dsar"
LANGS = {"fr", "en"}


def _names(node) -> set[str]:
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    return set()


def findings(root: Path = ROOT) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(root.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and len(node.comparators) == 1:
                sides = [node.left, node.comparators[0]]
                consts = {s.value for s in sides if isinstance(s, ast.Constant) and isinstance(s.value, str)}
                names = set().union(*(_names(s) for s in sides))
                if consts & LANGS and names & {"lang", "language", "locale"}:
                    out.append(f"{where}:{node.lineno}: a branch on the language")
            if isinstance(node, ast.IfExp):
                test = node.test
                if isinstance(test, ast.Compare) and any(isinstance(c, ast.Constant) and c.value in LANGS
                                                         for c in [test.left, *test.comparators]):
                    out.append(f"{where}:{node.lineno}: a conditional expression on the language")
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
                if LANGS <= keys:
                    out.append(f"{where}:{node.lineno}: words written once per language (a literal keyed fr/en)")
    return out


def test_no_sentence_is_chosen_by_language_in_python():
    found = findings()
    assert found == [], "sentences built in Python (use msgids and the catalogue):\n" + "\n".join(found)


def test_the_check_sees_a_language_branch(tmp_path):
    # The check itself can fail: each pattern it looks for is found in a sample package.
    pkg = tmp_path / "sample"
    pkg.mkdir()
    (pkg / "m.py").write_text('def f(lang):\n    if lang == "fr":\n        return "Bonjour"\n'
                              '    x = "a" if lang == "en" else "b"\n'
                              '    return {"fr": "un texte", "en": "a text"}\n')
    found = findings(pkg)
    assert sorted(found) == [
        "sample/m.py:2: a branch on the language", "sample/m.py:4: a branch on the language",
        "sample/m.py:4: a conditional expression on the language",
        "sample/m.py:5: words written once per language (a literal keyed fr/en)"], found
