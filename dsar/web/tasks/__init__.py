"""Professionals' task pages, opened through signed links sent by email (policy art. 8.2)."""
from flask import Blueprint

bp = Blueprint("tasks", __name__)

from . import views, execution  # noqa: E402,F401
