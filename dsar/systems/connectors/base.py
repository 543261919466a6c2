"""The connector registry, keyed by system kind (an unknown kind fails loudly), and the connectors' error."""
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


def registered(kind: str) -> type:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ConnectorError(f"no connector for the system kind {kind!r} (known: {', '.join(sorted(_REGISTRY))})") from None
