"""Dependencies: every one has an upper bound, and constraints.txt (the versions CI tested) satisfies setup.cfg."""
import configparser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _requirements() -> list[Requirement]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines()
    for extra in cfg["options.extras_require"].values():
        lines += extra.splitlines()
    return [Requirement(line) for line in lines if line.strip()]


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_every_dependency_has_a_lower_and_an_upper_bound():
    """A plain install picked untested majors (rq 3, SQLAlchemy 2.1, marshmallow 4) before (issue 14, item 3)."""
    unbounded = [str(r) for r in _requirements()
                 if not any(s.operator in {"<", "<="} for s in r.specifier)
                 or not any(s.operator == ">=" for s in r.specifier)]
    assert unbounded == []


def test_the_tested_versions_satisfy_the_declared_ranges():
    pins = _constraints()
    outside = []
    for req in _requirements():
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None or not req.specifier.contains(pinned, prereleases=True):
            outside.append(f"{req} (constraints.txt: {pinned})")
    assert outside == []
