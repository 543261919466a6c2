"""gunicorn settings for dsar: ``gunicorn -c python:dsar.gunicorn_conf dsar.wsgi:app`` (deploy/dsar-web.service).

The access log shows method, path, status, size and duration, with every secret link's token replaced by
``<token>`` (dsar.logs.redact_path) and without query string or Referer, which may carry one too. Command-line
options override these (e.g. ``--bind``, ``--workers``).
"""
import os

from gunicorn.glogging import Logger as _GunicornLogger

from dsar.logs import redact_path

bind = os.environ.get("DSAR_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
timeout = 60
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


class RedactingLogger(_GunicornLogger):
    """gunicorn's logger whose atoms never carry a secret token, whatever access_log_format asks for."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        path = redact_path(environ.get("PATH_INFO", ""))
        atoms.update({"U": path, "q": "", "f": "-",
                      "r": f"{environ.get('REQUEST_METHOD', '-')} {path} {environ.get('SERVER_PROTOCOL', '-')}"})
        return atoms


logger_class = RedactingLogger
