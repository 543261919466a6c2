"""Helpers for the API tests: keys, an OpenDSR signing key, and a real HTTP receiver on loopback."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from werkzeug.datastructures import Headers

from dsar.extensions import db
from dsar.services.staff import create_api_key

ALL_SCOPES = ["submit", "read", "staff", "directory"]


def make_key(*scopes: str, name: str = "test client") -> tuple[object, str]:
    key, secret = create_api_key(name=name, scopes=list(scopes), created_by="tests")
    db.session.commit()
    return key, secret


def bearer(secret: str, **extra) -> dict:
    return {"Authorization": f"Bearer {secret}", **extra}


def account_request_body(**overrides) -> dict:
    """A request made from a signed-in account of the application (policy art. 8.1)."""
    body = {
        "type": "access",
        "subject": {"kind": "patient", "first_name": "Jeanne", "last_name": "Dupont",
                    "email": "jeanne.dupont@example.test", "birth_date": "1980-04-02"},
        "channel": "account",
        "identity": {"method": "account", "verified": True},
        "language": "fr",
        "external_account_id": "acct-42",
    }
    body.update(overrides)
    return body


def signing_material(folder: Path, common_name: str = "localhost") -> tuple[Path, Path]:
    """An RSA key and a certificate for it (self-signed: good enough to test signatures, not for production)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def verify_opendsr_signature(cert_pem: bytes, body: bytes, signature_b64: str) -> None:
    """Raises cryptography's InvalidSignature unless ``signature_b64`` signs ``body`` with the certificate's key."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    public_key = x509.load_pem_x509_certificate(cert_pem).public_key()
    public_key.verify(base64.b64decode(signature_b64), body, padding.PKCS1v15(), hashes.SHA256())


class Receiver:
    """An HTTP server on 127.0.0.1 in a thread. ``handler(headers, body) -> status`` decides each answer."""

    def __init__(self, handler):
        self.handler = handler
        self.received: list[tuple[dict, bytes, int]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = Headers(list(self.headers.items()))   # case-insensitive, as HTTP headers are
                status = receiver.handler(headers, body)
                with receiver.lock:
                    receiver.received.append((headers, body, status))
                payload = json.dumps({"status": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0):
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} deliveries, got {len(self.received)}")


def fire_rq_retries(app) -> int:
    """With RQ, a failed job waits in the scheduled registry for its retry interval: move it to the queue now
    (what the RQ scheduler does once the interval has passed). In-process there is nothing to do."""
    backend = app.extensions["dsar_jobs"]
    if backend.name != "rq":
        return 0
    from rq.registry import ScheduledJobRegistry

    registry = ScheduledJobRegistry(queue=backend.queue())
    job_ids = registry.get_job_ids()
    for job_id in job_ids:
        registry.requeue(job_id)
    return len(job_ids)


def run_jobs_of(app) -> int:
    """Run what ``app`` queued, inside ``app``'s own context (the ``run_jobs`` fixture runs them in the default app)."""
    backend = app.extensions["dsar_jobs"]
    if backend.name != "rq":
        return 0
    from rq import SimpleWorker

    with app.app_context():
        worker = SimpleWorker([backend.queue()], connection=backend.redis)
        worker.work(burst=True, with_scheduler=False)
        return worker.successful_job_count + worker.failed_job_count
