"""Build step (the metadata is in setup.cfg): a wheel carries the top-level data folders and compiled catalogues.

``templates/``, ``migrations/`` and ``workflows/`` stay at the top of the checkout; building copies them to
``dsar/_data/`` in the wheel, and compiles every ``dsar/**/translations/*/LC_MESSAGES/*.po`` to its ``.mo``
(fuzzy entries included, as ``make translations`` does). An editable install builds nothing: the code reads the
checkout (dsar/resources.py).
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA_DIRS = ("templates", "migrations", "workflows")   # dsar/resources.py DATA_DIRS
LEFT_OUT = shutil.ignore_patterns("__pycache__", "*.pyc")


class BuildWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        package = Path(self.build_lib) / "dsar"
        target = package / "_data"
        shutil.rmtree(target, ignore_errors=True)
        for name in DATA_DIRS:
            shutil.copytree(ROOT / name, target / name, ignore=LEFT_OUT)
        compile_catalogues(package)


def compile_catalogues(package: Path) -> None:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    found = sorted(package.rglob("translations/*/LC_MESSAGES/*.po"))
    if not found:
        raise SystemExit("no translation catalogue found under dsar/: the wheel would serve English only")
    for po in found:
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        with po.with_suffix(".mo").open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=True)


setup(cmdclass={"build_py": BuildWithData})
