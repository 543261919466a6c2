"""The task pages' blueprint (its views are registered by importing dsar.web.tasks)."""
from flask import Blueprint

bp = Blueprint("tasks", __name__)
