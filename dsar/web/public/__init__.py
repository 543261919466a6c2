"""The public side: the request form, email confirmation, document upload, the requester's status page."""
# The blueprint lives in its own module, so that the views import it without importing this package (no cycle).
from .blueprint import bp  # noqa: F401
from . import downloads, views, rectification  # noqa: F401 - registers the views on bp
