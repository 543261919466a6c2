"""The systems map as frozen values: which systems hold personal data and how to find the subject in them.

Built by ``loading.load_systems`` from the systems file (``workflows/idomed.systems.yaml``)
after validation against the policy's data categories (policy art. 7). Shared by
collection (issue 16) and execution (issue 17).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Identity kinds a subject can be found by; ``birth_date`` only narrows another identity.
IDENTITY_KINDS = ("email", "phone", "account_id", "nir", "birth_date")
SYSTEM_KINDS = ("sql", "http", "manual")


@dataclass(frozen=True)
class Column:
    name: str
    category: str | None            # a policy data-category key; None when not personal
    personal: bool = True
    why: str | None = None          # why a column is not personal data
    mask: Any = None                # "null" | "hash" | {"fixed": value} (execution)
    file: bool = False              # binary/file content: written as a file in the pack
    filename_column: str | None = None


@dataclass(frozen=True)
class Reference:
    """An ownership edge: a row is the subject's if ``column`` is in the subject's values of ``to_table.to_column``."""

    column: str
    to_table: str
    to_column: str


@dataclass(frozen=True)
class TableActions:
    """What execution (issue 17) does to the subject's rows, per right; raw mapping kept for its own parsing."""

    erasure: str | None = None
    raw: dict = field(default_factory=dict)

    def get(self, verb: str, default=None):
        return self.raw.get(verb, default)


@dataclass(frozen=True)
class Table:
    name: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    references: tuple[Reference, ...] = ()
    sealed: bool = False
    actions: TableActions = TableActions()

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def exported_columns(self) -> tuple[Column, ...]:
        """Personal columns, the ones collected (``personal: false`` columns are never read)."""
        return tuple(c for c in self.columns if c.personal)

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(sorted({c.category for c in self.columns if c.category}))


@dataclass(frozen=True)
class System:
    key: str
    name: dict
    kind: str
    activity: str
    # sql
    read_url_env: str | None = None
    write_url_env: str | None = None
    identities: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # kind -> ((table, column), …)
    tables: tuple[Table, ...] = ()
    # http
    endpoint_env: str | None = None
    secret_env: str | None = None
    timeout_seconds: int = 10
    # http / manual
    categories: tuple[str, ...] = ()
    owner_name: str | None = None
    owner_email: str | None = None
    sealed: bool = False            # http/manual: everything it returns is shared health content

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"system {self.key!r} has no table {name!r}")

    def label(self, lang: str = "fr") -> str:
        return self.name.get(lang) or next(iter(self.name.values()), self.key)

    @property
    def all_categories(self) -> tuple[str, ...]:
        if self.kind == "sql":
            return tuple(sorted({c for t in self.tables for c in t.categories}))
        return self.categories


@dataclass(frozen=True)
class SystemsMap:
    source: str
    systems: tuple[System, ...]

    def system(self, key: str) -> System:
        for s in self.systems:
            if s.key == key:
                return s
        raise KeyError(f"{self.source}: no system {key!r}")

    def __iter__(self):
        return iter(self.systems)

    def __len__(self):
        return len(self.systems)
