"""Systems that hold personal data: the map (``loading``), collection (issue 16) and execution (issue 17).

``init_app`` loads the systems file named by ``DSAR_SYSTEMS`` (none = manual
fulfilment as before), refuses to start when it is wrong, and compares it with
the live schema of each SQL system it can reach (a reachable system whose
schema differs from the map also stops start-up; an unreachable one is only
reported: /health and start-up do not depend on outside systems).
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def init_app(app) -> None:
    from ..config import ConfigError
    from .loading import SystemsError, load_systems

    path = app.config.get("DSAR_SYSTEMS")
    if path is None:
        path = os.environ.get("DSAR_SYSTEMS") or None
        app.config["DSAR_SYSTEMS"] = path
    app.extensions["dsar_systems"] = None
    from .check import systems_cli
    from .web import bp

    app.cli.add_command(systems_cli)
    app.register_blueprint(bp)
    from .owner_execution import bp as execution_owner_bp   # issue 17: a manual system's owner confirms

    app.register_blueprint(execution_owner_bp)
    # local import: importing them registers what fulfilment asks of the systems (issue 15)
    from . import execution_report, rights  # noqa: F401

    if not path:
        return
    try:
        systems = load_systems(path, app.extensions["dsar_policy"])
    except SystemsError as exc:
        raise ConfigError(f"the systems file is not valid:\n{exc}") from exc
    if app.config.get("DSAR_SYSTEMS_CHECK_AT_STARTUP", True):
        from .check import check_live

        report = check_live(systems)
        if report.problems:
            raise ConfigError("the systems file does not match the live systems:\n" + "\n".join(report.problems))
        for line in report.unreachable:
            log.warning("systems check at start-up: %s", line)
    app.extensions["dsar_systems"] = systems
    from . import collection  # noqa: F401 - listens for requests that open
