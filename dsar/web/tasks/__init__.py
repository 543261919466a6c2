"""Professionals' task pages, opened through signed links sent by email (policy art. 8.2)."""
# The blueprint lives in its own module, so that the views import it without importing this package (no cycle).
from .blueprint import bp  # noqa: F401
from . import views, execution  # noqa: F401 - registers the views on bp
