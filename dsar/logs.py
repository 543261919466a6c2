"""Logging of every dsar process (web, worker, scheduler, commands): one line per record, text or JSON.

Log lines carry references and ids, never names, emails, documents or secret links. ``DSAR_LOG_FORMAT=json``
writes one JSON object per line (``time``, ``level``, ``logger``, ``message``, and ``exc_info`` for errors) for log
collectors; ``DSAR_LOG_LEVEL`` sets the level (INFO). If the process already configured the root logger (a test
runner, an operator's own configuration), dsar leaves it alone.
"""
from __future__ import annotations

import logging
import sys

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Chatty third-party loggers: WeasyPrint logs every layout step of every letter at INFO.
QUIET = {"weasyprint": logging.WARNING, "fontTools": logging.WARNING}


class _DsarHandler(logging.StreamHandler):
    """Marks the handler dsar installed, so that creating several apps in one process installs it once."""


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                             rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
    return logging.Formatter(TEXT_FORMAT)


def configure(level: str = "INFO", fmt: str = "text", root: logging.Logger | None = None) -> None:
    root = root or logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _DsarHandler)]
    if root.handlers and not ours:
        return
    handler = ours[0] if ours else _DsarHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    if not ours:
        root.addHandler(handler)
    root.setLevel(level.upper())
    for name, quiet_level in QUIET.items():
        logging.getLogger(name).setLevel(quiet_level)


#: Path segments after these hold a secret link's token (/status/<token>, /task/<token>/…, /confirm/<token>,
#: /download/<token>/…, /backoffice/password/<token>, /systems/owner|review|execute/<token>). New secret-link
#: routes must be added here (tests/service/test_logs.py checks every route that takes a token).
SECRET_PATH_PREFIXES = frozenset({"status", "task", "confirm", "download", "password", "owner", "review", "execute"})
_LONG_TOKEN = 32    # any other segment this long (signed tokens are longer) is taken for a secret too


def redact_path(path: str) -> str:
    """The path with secret tokens replaced by ``<token>``: what an access log or an error line may show."""
    segments = (path or "").split("?", 1)[0].split("/")
    out = []
    for i, segment in enumerate(segments):
        secret = (i > 0 and segments[i - 1] in SECRET_PATH_PREFIXES and segment) or len(segment) >= _LONG_TOKEN
        out.append("<token>" if secret else segment)
    return "/".join(out)
