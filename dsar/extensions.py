"""Flask extensions, created unbound and attached in ``create_app``."""
from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData

from . import ratelimits  # noqa: F401 - registers the rate limits' strategy before Limiter reads the config

# Stable constraint names so that migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate(compare_type=True, render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def release_session_quietly(app) -> None:
    """End each request's session without letting a dead connection turn a finished answer into a 500.

    Flask-SQLAlchemy closes the session when the app context ends, after the answer is built: if the database
    went away in between (a restart right after the commit), closing it raised, and gunicorn answered 500 to a
    request whose work was saved. Registered after ``db.init_app``, this runs first and discards such a session
    (its connection is invalid anyway; the pool replaces it).
    """
    import logging

    from sqlalchemy.exc import DBAPIError, DisconnectionError

    @app.teardown_appcontext
    def _release(exc):
        try:
            db.session.remove()
        except (DBAPIError, DisconnectionError) as err:
            logging.getLogger(__name__).warning("database connection lost while ending a request: %s",
                                                type(err).__name__)
            db.session.registry.clear()
