"""dsar: a GDPR data subject request service. ``create_app`` builds it; importing has no side effects."""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, g, request, session

from .config import ConfigError, load_settings
from .logs import configure as configure_logs
from .resources import data_path, default_instance_path

__all__ = ["create_app", "ConfigError"]


def create_app(config: dict | None = None) -> Flask:
    instance_path = (config or {}).get("INSTANCE_PATH") or os.environ.get("DSAR_INSTANCE_PATH") or default_instance_path()
    app = Flask(
        __name__,
        instance_path=str(Path(instance_path).resolve()) if instance_path else None,
        template_folder=str(data_path("templates")),
        static_folder="static",
    )
    app.config.update(load_settings(Path(app.instance_path), config))
    _trust_proxies(app)
    # Each area keeps its own catalogue (dsar/**/translations); Flask-Babel merges them.
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", ";".join(
        sorted(str(p) for p in Path(__file__).parent.rglob("translations") if p.is_dir())) or "translations")
    _configure_logging(app)
    # Before any blueprint: every <int:…> rule takes the bounded converter.
    # local import: importing dsar has no side effects; the extensions, mappers, listeners and blueprints load
    # with the first app (the rest of create_app's imports are local for the same reason)
    from .web.input_guards import init_input_guards

    init_input_guards(app)

    from . import extensions as ext  # local import: loads with the first app (above)

    ext.db.init_app(app)
    ext.release_session_quietly(app)
    ext.migrate.init_app(app, ext.db, directory=str(data_path("migrations")))
    ext.csrf.init_app(app)
    ext.babel.init_app(app, locale_selector=_select_locale, timezone_selector=lambda: "Europe/Paris")
    ext.limiter.init_app(app)
    ext.login_manager.init_app(app)

    from . import models  # noqa: F401 - local import: registers the mappers with the first app (above)
    # local import: these modules connect their receivers to the lifecycle's and the directory's signals when
    # imported; every entry point (web, worker, CLI) builds an app, so they listen whatever runs
    from .services import checklist, opendsr, task_answer_notice, webhooks  # noqa: F401
    from .services.routing import routes  # noqa: F401
    from .policy.errors import PolicyError  # local import: loads with the first app (above)
    from .policy.loading import load_policy

    try:
        app.extensions["dsar_policy"] = load_policy(app.config["DSAR_POLICY"])
    except PolicyError as exc:
        raise ConfigError(f"the policy file is not valid: {exc}") from exc

    from . import systems  # local import: loads with the first app (above)

    systems.init_app(app)

    from . import jobs  # local import: loads with the first app (above)

    jobs.init_app(app)

    from .web.app import register_web  # local import: loads with the first app (above)

    register_web(app)

    from .cli_commands import register_cli  # local import: loads with the first app (above)

    register_cli(app)
    if app.config["DSAR_RUN_PERIODIC_IN_PROCESS"] and not app.config["REDIS_URL"]:
        _start_periodic_on_first_request(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Behind DSAR_TRUSTED_PROXIES reverse proxies, the client's address and scheme are the forwarded ones.

    Rate limits, the audit trail and secure-cookie decisions read ``request.remote_addr``/``scheme``; ProxyFix takes
    the address the last trusted proxy saw, so a client cannot choose its own by sending X-Forwarded-For.
    """
    hops = app.config["DSAR_TRUSTED_PROXIES"]
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def _start_periodic_on_first_request(app: Flask) -> None:
    """Embedded mode: the server process (and only it, not `dsar db upgrade`) runs the periodic jobs."""
    import threading

    lock = threading.Lock()

    @app.before_request
    def _start_scheduler():
        if "dsar_scheduler" in app.extensions:
            return
        with lock:
            if "dsar_scheduler" not in app.extensions:
                # local import: only the embedded mode's server runs the periodic jobs
                from .jobs.schedule import InProcessScheduler

                scheduler = InProcessScheduler(app)
                scheduler.start()
                app.extensions["dsar_scheduler"] = scheduler


def _select_locale():
    from flask import current_app

    languages = current_app.config["LANGUAGES"]
    forced = getattr(g, "force_language", None)
    if forced in languages:
        return forced
    if request:
        chosen = request.args.get("lang")
        if chosen in languages:
            session["lang"] = chosen
            return chosen
        if session.get("lang") in languages:
            return session["lang"]
        return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _configure_logging(app: Flask) -> None:
    # Log lines carry references and ids, never names, emails or documents (dsar/logs.py).
    # Flask's own handler on the app's logger printed every dsar line a second time, after the root's.
    from flask.logging import default_handler

    app.logger.removeHandler(default_handler)
    configure_logs(os.environ.get("DSAR_LOG_LEVEL", "INFO"), app.config["DSAR_LOG_FORMAT"])
