"""Professionals' task pages, opened through signed links sent by email (policy art. 8.2)."""
from flask import Blueprint

bp = Blueprint("tasks", __name__)

from . import views, execution  # noqa: E402,F401
# Staff are told when a professional answers (reference, outcome, day; never the content, policy art. 8.2).
from ...services import task_answer_notice  # noqa: E402,F401 - subscribes to lifecycle.request_changed
