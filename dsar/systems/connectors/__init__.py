"""One connector class per system kind (``sql``, ``http``, ``manual``), registered in ``base`` by kind.

Importing this package registers the built-in kinds; ``connector_for`` gives the instance for a system.
"""
from __future__ import annotations

from . import http, manual, sql  # noqa: F401 - registering the built-in kinds
from .base import ConnectorError, register, registered

__all__ = ["ConnectorError", "connector_for", "register"]


def connector_for(system):
    """The connector instance for ``system``'s kind."""
    return registered(system.kind)(system)
