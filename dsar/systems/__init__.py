"""Systems that hold personal data: the map (``loading``), collection (issue 16) and execution (issue 17).

``init_app`` loads the systems file named by ``DSAR_SYSTEMS`` (none = manual
fulfilment as before), refuses to start when it is wrong, and compares it with
the live schema of each SQL system it can reach (a reachable system whose
schema differs from the map also stops start-up; an unreachable one is only
reported: /health and start-up do not depend on outside systems).

Its pages are in ``dsar.web.systems``, its command (``dsar systems check``) is registered by ``dsar.cli``.
"""
from __future__ import annotations

import logging
import os

from ..config import ConfigError
from .check import check_live
from .loading import SystemsError, load_systems

log = logging.getLogger(__name__)


def init_app(app) -> None:
    path = app.config.get("DSAR_SYSTEMS")
    if path is None:
        path = os.environ.get("DSAR_SYSTEMS") or None
        app.config["DSAR_SYSTEMS"] = path
    app.extensions["dsar_systems"] = None
    if not path:
        return
    try:
        systems = load_systems(path, app.extensions["dsar_policy"])
    except SystemsError as exc:
        raise ConfigError(f"the systems file is not valid:\n{exc}") from exc
    if app.config.get("DSAR_SYSTEMS_CHECK_AT_STARTUP", True):
        report = check_live(systems)
        if report.problems:
            raise ConfigError("the systems file does not match the live systems:\n" + "\n".join(report.problems))
        for line in report.unreachable:
            log.warning("systems check at start-up: %s", line)
    app.extensions["dsar_systems"] = systems
    # local import: importing collection connects it to lifecycle.request_changed (requests that open start
    # their collection); importing dsar.systems alone (the map) connects nothing
    from . import collection  # noqa: F401
    # local import: importing them registers what fulfilment (a layer below) asks of the systems (issue 15)
    from . import execution_report, rights  # noqa: F401
