"""The public side: the request form, email confirmation, document upload, the requester's status page."""
from flask import Blueprint

bp = Blueprint("public", __name__)

from . import downloads, views, rectification  # noqa: E402,F401
