"""Putting the web surfaces together on the app: the blueprints, the API, the development mailbox."""
from __future__ import annotations

from flask import Flask

from ..api import register_api
from .backoffice import bp as backoffice_bp
from .common import init_common
from .health import bp as health_bp
from .public import bp as public_bp
from .systems import bp as systems_bp
from .systems import execution_owner_bp
from .tasks import bp as tasks_bp


def register_web(app: Flask) -> None:
    # The bounded URL converters are installed by create_app before any blueprint (web.input_guards).
    init_common(app)

    app.register_blueprint(health_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(backoffice_bp, url_prefix="/backoffice")
    app.register_blueprint(tasks_bp, url_prefix="/task")
    app.register_blueprint(systems_bp)             # collection: owners, the professional's review, run again
    app.register_blueprint(execution_owner_bp)     # execution: a manual system's owner confirms (issue 17)
    register_api(app)
    if app.config["DSAR_ENV"] in {"development", "test"} and app.config["MAIL_BACKEND"] == "file":
        from .dev import bp as dev_bp  # local import: only in development and test

        app.register_blueprint(dev_bp, url_prefix="/dev")
