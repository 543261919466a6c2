"""The dry run: the erasure plan of the policy joined with the systems map, per system and table (issue 17).

Policy art. 12 and GDPR art. 17(3): the plan (``dsar.policy.erasure_plan``) says per data category whether it
is erased now or kept (archive_until, keep_while_contract, keep_rolling, or any other action the policy may
add, e.g. health data kept until handed to the professional); the map says which columns of which table hold
which category. Per table holding rows of the subject:

- every personal column's category is ``erase_now`` → the row is deleted (``erasure: delete``), or, for a
  table whose rows may not be deleted (``erasure: mask``), its masked columns are masked;
- some category must be kept → the row stays, on its ground; the ``erase_now`` columns that have a
  ``mask:`` are masked; if a kept category is ``archive_until`` and the table has ``archive:``, the row is
  archived (moved out of the active base, policy art. 12);
- a category the plan does not cover for this subject → kept, nothing is changed without a plan.

Nothing here writes: ``plan_table`` is pure; ``compute`` reads the systems through the traversal only.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

from ..models.execution import LineAction
from .model import System, Table

ERASE_NOW = "erase_now"
ARCHIVE_UNTIL = "archive_until"


@dataclass
class PlannedLine:
    system: str
    table: str | None
    action: str
    rows: int | None
    categories: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    grounds: list[str] = field(default_factory=list)
    until: date | None = None
    sealed: bool = False

    def signature(self) -> tuple:
        return (self.system, self.table, self.action, self.rows, tuple(self.columns))


def _plan_index(items, activity: str) -> dict:
    """category -> ErasureItem (or its JSON form) for the system's activity."""
    out = {}
    for it in items:
        get = it.get if isinstance(it, dict) else lambda k, _it=it: getattr(_it, k)
        if get("activity") == activity:
            out[get("category")] = it
    return out


def _field(item, name):
    return item.get(name) if isinstance(item, dict) else getattr(item, name)


def _until(item):
    value = _field(item, "until")
    if isinstance(value, str):
        return date.fromisoformat(value)
    return value


def plan_table(system: System, table: Table, rows: int, plan: dict) -> list[PlannedLine]:
    """What an erasure does to ``rows`` rows of ``table``, given ``plan`` = {category: erasure item}."""
    if rows == 0:
        return []
    personal = [c for c in table.columns if c.personal and c.category]
    erase = [c for c in personal if c.category in plan and _field(plan[c.category], "action") == ERASE_NOW]
    kept_cats = sorted({c.category for c in personal if c not in erase})
    common = {"system": system.key, "table": table.name, "rows": rows, "sealed": table.sealed}
    mode = table.actions.erasure
    masked = [c.name for c in erase if c.mask is not None]
    lines: list[PlannedLine] = []
    if not kept_cats and mode == "delete":
        return [PlannedLine(action=LineAction.DELETE, categories=sorted({c.category for c in erase}), **common)]
    if masked and mode in ("delete", "mask"):
        lines.append(PlannedLine(action=LineAction.MASK, columns=masked,
                                 categories=sorted({c.category for c in erase if c.mask is not None}), **common))
    if not kept_cats:
        if not masked:
            # Nothing may be deleted and nothing can be masked: say so rather than pretend.
            lines.append(PlannedLine(action=LineAction.KEEP, categories=sorted({c.category for c in erase}),
                                     grounds=["no_erasure_action"], **common))
        return lines
    kept_items = [plan[c] for c in kept_cats if c in plan]
    grounds = sorted({g for it in kept_items for g in (_field(it, "grounds") or ())}) or (
        ["not_in_plan"] if len(kept_items) < len(kept_cats) else [])
    untils = [u for u in (_until(it) for it in kept_items) if u is not None]
    archiving = table.actions.get("archive") and any(_field(it, "action") == ARCHIVE_UNTIL for it in kept_items)
    lines.append(PlannedLine(action=LineAction.ARCHIVE if archiving else LineAction.KEEP, categories=kept_cats,
                             grounds=grounds, until=max(untils) if untils else None, **common))
    return lines


def plan_system(system: System, counts: dict[str, int], plan_items) -> list[PlannedLine]:
    """Lines for one system: sql per table; http one signed call; manual one owner task."""
    plan = _plan_index(plan_items, system.activity)
    if system.kind == "sql":
        lines = []
        for table in system.tables:
            lines.extend(plan_table(system, table, counts.get(table.name, 0), plan))
        return lines
    action = LineAction.CALL if system.kind == "http" else LineAction.OWNER_TASK
    cats = list(system.categories)
    erase = [c for c in cats if c in plan and _field(plan[c], "action") == ERASE_NOW]
    kept = [c for c in cats if c not in erase]
    lines = []
    if erase:
        lines.append(PlannedLine(system=system.key, table=None, action=action, rows=None, categories=erase,
                                 sealed=system.sealed))
    if kept:
        items = [plan[c] for c in kept if c in plan]
        untils = [u for u in (_until(it) for it in items) if u is not None]
        lines.append(PlannedLine(system=system.key, table=None, action=LineAction.KEEP, rows=None, categories=kept,
                                 grounds=sorted({g for it in items for g in (_field(it, "grounds") or ())})
                                 or ["not_in_plan"], until=max(untils) if untils else None, sealed=system.sealed))
    return lines


def fingerprint(keys_json: dict[str, dict]) -> str:
    """SHA-256 of the subject's keys per system and table: the same rows give the same value (stale check)."""
    canonical = json.dumps({s: sorted((t, sorted(map(repr, ks))) for t, ks in k.items())
                            for s, k in sorted(keys_json.items())}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
