"""The JSON API under /api/v1 (flask-smorest)."""
from __future__ import annotations


def register_api(app) -> None:
    """Attach the API; its resources are registered by the API modules."""
