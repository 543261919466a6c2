"""A small "billing" application for the tests: a real HTTP server on loopback that answers dsar's signed
collection requests (the http system kind, issue 16) and refuses a forged or expired signature."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dsar.services import webhooks

INVOICES = {
    "dr.martin@app.test": [{"id": 101, "number": "B-2026-001", "amount": "49.00"},
                           {"id": 102, "number": "B-2026-002", "amount": "49.00"}],
    "alice@app.test": [{"id": 201, "number": "B-2026-010", "amount": "0.00"}],
}
BANK = {"dr.martin@app.test": [{"id": 1, "iban_last4": "1234"}]}


class BillingApp:
    def __init__(self, secret: str):
        self.secret = secret
        self.received: list[dict] = []
        self.refused: list[str] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    webhooks.verify(app.secret, dict(self.headers.items()), body)
                except webhooks.InvalidSignature as exc:
                    app.refused.append(exc.reason)
                    self.send_response(401)
                    self.end_headers()
                    return
                payload = json.loads(body)
                app.received.append({"path": self.path, "payload": payload,
                                     "delivery": self.headers.get(webhooks.DELIVERY_HEADER)})
                emails = payload["subject"]["identities"].get("email", [])
                if self.path.endswith("/execute"):         # execution (issue 17): how many records it handled
                    self._answer({"records": sum(len(INVOICES.get(e, [])) for e in emails)})
                    return
                tables = []
                for email in emails:
                    if email in INVOICES:
                        tables.append({"name": "invoices", "category": "contract", "rows": INVOICES[email]})
                    if email in BANK:
                        tables.append({"name": "bank_details", "category": "banking", "rows": BANK[email]})
                self._answer({"tables": tables})

            def _answer(self, value):
                out = json.dumps(value).encode()
                import time

                ts = int(time.time())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header(webhooks.TIMESTAMP_HEADER, str(ts))
                self.send_header(webhooks.SIGNATURE_HEADER, webhooks.sign(app.secret, ts, out))
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
