"""One connector class per system kind, in a registry keyed by kind (an unknown kind fails loudly)."""
from __future__ import annotations

_REGISTRY: dict[str, type] = {}


class ConnectorError(RuntimeError):
    """A system could not be read (or written); the message holds no personal data."""


def register(kind: str):
    def deco(cls):
        if kind in _REGISTRY and _REGISTRY[kind] is not cls:
            raise RuntimeError(f"two connectors for the system kind {kind!r}")
        _REGISTRY[kind] = cls
        cls.kind = kind
        return cls
    return deco


def connector_for(system):
    """The connector instance for ``system``'s kind."""
    from . import http, manual, sql  # noqa: F401 - registering the built-in kinds

    try:
        cls = _REGISTRY[system.kind]
    except KeyError:
        raise ConnectorError(f"no connector for the system kind {system.kind!r} (known: {', '.join(sorted(_REGISTRY))})") from None
    return cls(system)
