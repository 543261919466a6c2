"""Where the service finds its data files: templates, migrations, the policy file.

The checkout keeps them at the top level (``templates/``, ``migrations/``, ``workflows/``) and an editable
install (``pip install -e .``, ``make run``/``make test``) reads them there. A wheel carries copies under
``dsar/_data/`` (setup.py copies them at build time, with the compiled French catalogues), so an installed
service never depends on the directory it was started from. Every lookup goes through :func:`data_path`.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_DIR = PACKAGE_DIR / "_data"
CHECKOUT_DIR = PACKAGE_DIR.parent
#: The top-level folders a wheel carries under dsar/_data/ (setup.py reads this list).
DATA_DIRS = ("templates", "migrations", "workflows")


def is_checkout() -> bool:
    """True when running from the source tree (editable install), False from an installed wheel."""
    return not BUNDLED_DIR.is_dir() and (CHECKOUT_DIR / "setup.cfg").is_file()


def data_path(*parts: str) -> Path:
    """The path of a data file or folder, e.g. ``data_path("workflows", "idomed.yaml")``."""
    if parts[0] not in DATA_DIRS:
        raise ValueError(f"{parts[0]!r} is not one of the data folders {DATA_DIRS}")
    base = CHECKOUT_DIR if is_checkout() else BUNDLED_DIR
    return base.joinpath(*parts)


def default_instance_path() -> str | None:
    """``instance/`` in the checkout; for an installed wheel None, so that Flask picks ``<prefix>/var/dsar-instance``."""
    return str(CHECKOUT_DIR / "instance") if is_checkout() else None
