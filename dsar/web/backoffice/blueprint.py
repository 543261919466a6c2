"""The back-office's blueprint (its views are registered by importing dsar.web.backoffice)."""
from flask import Blueprint

bp = Blueprint("backoffice", __name__)
