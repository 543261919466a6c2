"""The DPO back-office: sign-in, the queue, the request page and its actions, the register, statistics, accounts."""
from flask import Blueprint

bp = Blueprint("backoffice", __name__)

from . import auth, views, register, stats, admin, intake, fulfilment, webhooks, execution, queue_actions  # noqa: E402,F401
