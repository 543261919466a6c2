"""The public side's blueprint (its views are registered by importing dsar.web.public)."""
from flask import Blueprint

bp = Blueprint("public", __name__)
