"""What only the systems layer knows (``dsar.systems``, issues 16-17), registered by it at import.

Services sit below systems (CONTRIBUTING.md "Layers"): fulfilment never imports ``dsar.systems``. When
``dsar.systems`` is imported (``create_app`` -> ``dsar.systems.init_app``), its modules put their functions
here; until then (or with no systems file) fulfilment behaves as with manual fulfilment only.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...actors import Actor
from ...models import DataRequest


def _no_rows(req: DataRequest, lang: str) -> list[dict]:
    return []


def _nothing_executed(req: DataRequest) -> set[str] | None:
    return None


def _not_through_systems(req: DataRequest, actor: Actor):
    return None


@dataclass
class SystemsHooks:
    #: What an erasure executed on the systems did, per system and data category (the letter lists it).
    executed_rows: Callable[[DataRequest, str], list[dict]] = _no_rows
    #: The activities whose systems an execution changed; None when nothing was executed (GDPR art. 19).
    executed_activities: Callable[[DataRequest], set[str] | None] = _nothing_executed
    #: What a rectification executed on the systems changed (the letter lists it).
    rectified_rows: Callable[[DataRequest, str], list[dict]] = _no_rows
    #: Deactivate the account through the systems (policy art. 8.2): the execution, or None (staff confirm by hand).
    deactivate: Callable[[DataRequest, Actor], object] = _not_through_systems

    def register(self, **functions: Callable) -> None:
        for name, fn in functions.items():
            if not hasattr(self, name):
                raise AttributeError(f"no systems hook named {name!r}")
            setattr(self, name, fn)


systems_hooks = SystemsHooks()
