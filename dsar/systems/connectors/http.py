"""The http connector: the system answers a signed POST with the subject's data (issue 16).

Request: ``POST {base}/collect``, JSON, signed like the webhooks
(``X-DSAR-Timestamp``, ``X-DSAR-Signature: v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>``,
``X-DSAR-Delivery: collect-<run id>`` the same on every retry)::

    {"version": 1, "delivery": "collect-12", "reference": "DSAR-2026-000123",
     "subject": {"kind": "patient", "identities": {"email": ["…"], "phone": ["…"], "account_id": ["…"]}},
     "categories": ["contract", "banking"]}

Response: 200, JSON, signed the same way with the same secret (dsar refuses an
unsigned or badly signed answer)::

    {"tables": [{"name": "invoices", "category": "contract", "rows": [{"id": 1, …}, …]}]}

Each row should carry an ``id`` (the key a professional withholds an item by).
A 4xx (a refused signature, for one) fails at once; a timeout, a connection
error or a 5xx is tried again a few times, then the run fails and RQ retries it
with growing intervals. The URL and secret come from the environment variables
the systems file names; the URL is never logged.
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

from ...services import webhooks
from ..tables import AdHocTable, write_table
from .base import ConnectorError, register

MAX_RESPONSE_BYTES = 200 * 1024 * 1024
TRIES = 3


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


@register("http")
class HttpConnector:
    def __init__(self, system):
        self.system = system

    def _env(self, name: str | None, what: str) -> str:
        value = os.environ.get(name or "")
        if not value:
            raise ConnectorError(f"the environment variable {name} ({what} of system {self.system.key!r}) is not set")
        return value

    def post(self, verb: str, payload: dict, delivery: str) -> dict:
        base = self._env(self.system.endpoint_env, "URL").rstrip("/")
        secret = self._env(self.system.secret_env, "secret")
        if not base.startswith(("https://", "http://")):
            raise ConnectorError(f"the URL of system {self.system.key!r} is not http(s)")
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        last = "no attempt"
        for attempt in range(TRIES):
            ts = int(time.time())
            req = urllib.request.Request(f"{base}/{verb}", data=body, method="POST", headers={
                "Content-Type": "application/json", "User-Agent": "dsar-systems/1",
                webhooks.TIMESTAMP_HEADER: str(ts), webhooks.SIGNATURE_HEADER: webhooks.sign(secret, ts, body),
                webhooks.DELIVERY_HEADER: delivery})
            try:
                with _opener.open(req, timeout=self.system.timeout_seconds) as res:
                    data = res.read(MAX_RESPONSE_BYTES + 1)
                    headers = dict(res.headers.items())
                    status = res.status
            except urllib.error.HTTPError as exc:
                exc.close()
                if 400 <= exc.code < 500:
                    hint = " (the system refused dsar's signature: check the shared secret and the clocks)" \
                        if exc.code in (401, 403) else ""
                    raise ConnectorError(f"system {self.system.key!r} answered HTTP {exc.code}{hint}") from None
                last = f"HTTP {exc.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"unreachable ({type(reason).__name__})"
            else:
                if len(data) > MAX_RESPONSE_BYTES:
                    raise ConnectorError(f"system {self.system.key!r} answered more than {MAX_RESPONSE_BYTES} bytes")
                if not 200 <= status < 300:
                    raise ConnectorError(f"system {self.system.key!r} answered HTTP {status}")
                try:
                    webhooks.verify(secret, headers, data)
                except webhooks.InvalidSignature as exc:
                    raise ConnectorError(f"system {self.system.key!r}: the answer's signature is not valid "
                                         f"({exc.reason if hasattr(exc, 'reason') else exc})") from None
                try:
                    return json.loads(data)
                except ValueError:
                    raise ConnectorError(f"system {self.system.key!r} answered something that is not JSON") from None
            time.sleep(min(0.5 * 2 ** attempt, 4))
        raise ConnectorError(f"system {self.system.key!r}: {last} after {TRIES} tries")

    def collect(self, run, store, identities: dict[str, list[str]], recorder) -> None:
        req = run.request
        answer = self.post("collect", {
            "version": 1, "delivery": run.job_id, "reference": req.reference,
            "subject": {"kind": req.subject_kind, "identities": identities},
            "categories": list(self.system.categories)}, run.job_id)
        tables = answer.get("tables") if isinstance(answer, dict) else None
        if not isinstance(tables, list):
            raise ConnectorError(f"system {self.system.key!r}: the answer has no 'tables' list")
        for i, t in enumerate(tables):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not isinstance(t.get("rows"), list):
                raise ConnectorError(f"system {self.system.key!r}: tables[{i}] needs a name and a list of rows")
            if t.get("category") not in self.system.categories:
                raise ConnectorError(f"system {self.system.key!r}: tables[{i}] has a category the systems file "
                                     f"does not allow for it ({', '.join(self.system.categories)})")
        for t in tables:
            name = t["name"]
            if name in (run.progress or {}):
                continue
            rows = [r for r in t["rows"] if isinstance(r, dict)]
            columns = list(dict.fromkeys(k for r in rows for k in r))
            table = AdHocTable(name, t["category"], columns, self.system.sealed)
            recorder.done(name, write_table(store, self.system, table, iter(rows)))

