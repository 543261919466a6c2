"""The DPO back-office: sign-in, the queue, the request page and its actions, the register, statistics, accounts."""
# The blueprint lives in its own module, so that the views import it without importing this package (no cycle).
from .blueprint import bp  # noqa: F401
from . import auth, views, register, stats, admin, intake, fulfilment, webhooks, execution, queue_actions  # noqa: F401 - registers the views on bp
