"""HTML → tagged PDF with WeasyPrint, in a child process with capped memory and CPU (issue 19 item 10).

A letter's layout took the web worker to 243 MB (WeasyPrint, Pango, the fonts, the layout of a six-page
letter); the same load without letters peaked at 170 MB. So the web worker only builds the HTML
(Jinja, ``dsar.pdf.render_html``) and never imports WeasyPrint: the layout runs in a child, this file
run as a script with ``python -I`` (no PYTHON* variables, no user site, nothing of dsar or the app).

The child is long-lived: a process starting Python and WeasyPrint costs about 1.3 s before its first page
(2 shared cores), and a letter about 60 ms (0.3-0.45 s for the six-page access letter), so one child per
letter would multiply a letter's time by 5 to 20. One child per process that renders (a web worker, an RQ
worker), started on first use, serves the letters one at a time (a lock: threaded servers), and is replaced
after ``RECYCLE_AFTER`` letters (what WeasyPrint keeps grows no further than that) or after any failure.

Limits, as ``services.previews`` does for page previews: the child caps its address space
(``RLIMIT_AS``) once, and its CPU time before each letter (``RLIMIT_CPU``: what it has used plus
``CPU_SECONDS``); the parent waits ``TIMEOUT_SECONDS`` of wall clock for each answer and kills the child
after that. Every failure is ``RenderFailed``, and the child is gone: the next letter starts a fresh one.

Rendering never reaches the network: the child's URL fetcher refuses every URL (the templates need none:
styles are inline and the fonts are the system's DejaVu), so text a requester typed cannot make the server
fetch anything.

Protocol on the child's stdin/stdout: frames of a 4-byte big-endian length and that many bytes. A request is
a JSON header (``identifier``, ``cpu_seconds``) and the HTML (UTF-8); an answer is a JSON header (``ok``,
``error``, ``refused``: the schemes of the URLs it refused to fetch, logged by the parent) and the PDF.
"""
from __future__ import annotations

import json
import logging
import os
import select
import struct
import subprocess
import sys
import threading
import time

log = logging.getLogger(__name__)

#: The child peaks at about 290 MB of address space, 100 MB resident (interpreter, WeasyPrint, Pango,
#: fonts); three and a half times that is a runaway.
MEMORY_BYTES = 1024 * 1024 * 1024
CPU_SECONDS = 20                 # per letter; the six-page letter takes 0.3-0.45 s, starting the child 1.3 s
TIMEOUT_SECONDS = 60             # wall clock per letter, the child's start included: the machine may be busy
RECYCLE_AFTER = 200              # letters per child
_HEADER = struct.Struct(">I")
_MAX_FRAME = 256 * 1024 * 1024


class RenderFailed(RuntimeError):
    """The PDF could not be laid out within the limits (or at all); the child is stopped."""


def _write_frame(stream, data: bytes) -> None:
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    """``size`` bytes from ``fd``; TimeoutError past ``deadline``, EOFError when the other side is gone."""
    chunks, left = [], size
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1024 * 1024))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int, deadline: float | None) -> bytes:
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if size > _MAX_FRAME:
        raise EOFError
    return _read_exact(fd, size, deadline)


class Renderer:
    """A long-lived child that lays out HTML into PDF; one per process (``render`` below)."""

    def __init__(self, *, memory_bytes: int = MEMORY_BYTES, cpu_seconds: int = CPU_SECONDS,
                 timeout: float = TIMEOUT_SECONDS, recycle_after: int = RECYCLE_AFTER):
        self.memory_bytes, self.cpu_seconds = memory_bytes, cpu_seconds
        self.timeout, self.recycle_after = timeout, recycle_after
        self._child: subprocess.Popen | None = None
        self._owner = 0        # the pid that started the child: a forked copy of this object starts its own
        self._served = 0
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        # Its stderr is the parent's: a crash's traceback lands in the worker's log (it holds no letter text).
        self._child = subprocess.Popen([sys.executable, "-I", __file__, str(self.memory_bytes)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        self._owner, self._served = os.getpid(), 0
        return self._child

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is None or self._owner != os.getpid():
            return
        try:
            child.kill()
            child.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for stream in (child.stdin, child.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def render(self, html: str, identifier: bytes) -> bytes:
        with self._lock:
            child = self._child if self._child is not None and self._owner == os.getpid() else None
            if child is None or child.poll() is not None:
                child = self._start()
            deadline = time.monotonic() + self.timeout
            try:
                header = json.dumps({"identifier": identifier.decode("latin-1"), "cpu_seconds": self.cpu_seconds})
                _write_frame(child.stdin, header.encode())
                _write_frame(child.stdin, html.encode("utf-8"))
                child.stdin.flush()
                answer = json.loads(_read_frame(child.stdout.fileno(), deadline))
                data = _read_frame(child.stdout.fileno(), deadline)
            except TimeoutError:
                self.stop()
                log.warning("letter rendering: the layout took longer than %s s and was stopped", self.timeout)
                raise RenderFailed("timeout") from None
            except (EOFError, OSError, ValueError):
                code = child.poll()
                if code is None:
                    try:
                        code = child.wait(timeout=2)
                    except subprocess.TimeoutExpired:
                        pass
                self.stop()
                # A negative code is the signal that killed it (SIGXCPU for the CPU limit, SIGKILL).
                log.warning("letter rendering: the renderer died (exit %s)", code)
                raise RenderFailed(f"exit {code}") from None
            for scheme in answer.get("refused", []):
                log.warning("letter rendering refused to fetch a %s: URL", scheme)
            if not answer.get("ok"):
                self.stop()
                log.warning("letter rendering failed: %s", answer.get("error"))
                raise RenderFailed(answer.get("error") or "failed")
            self._served += 1
            if self._served >= self.recycle_after:
                self.stop()
            return data


_renderer = Renderer()


def render(html: str, identifier: bytes) -> bytes:
    """``html`` laid out as a tagged PDF (PDF/UA structure) by this process's renderer child; RenderFailed."""
    return _renderer.render(html, identifier)


def no_network_fetcher(refused: list | None = None):
    """WeasyPrint's URL fetcher that refuses every URL; only the child (and tests) import WeasyPrint."""
    from weasyprint.urls import URLFetcher

    class NoNetwork(URLFetcher):
        """Refuse every URL: a letter is self-contained, and a fetch is a server-side request forgery."""

        def fetch(self, url, headers=None):
            # Only the scheme is told: the rest of a URL may carry what a requester typed.
            scheme = url.split(":", 1)[0][:10]
            if refused is None:
                log.warning("letter rendering refused to fetch a %s: URL", scheme)
            else:
                refused.append(scheme)
            raise ValueError("external resources are not fetched when rendering letters")

    return NoNetwork()


def layout(html: str, identifier: bytes, refused: list | None = None) -> bytes:
    """The layout itself, in this process (the child calls it): tagged PDF, no network."""
    from weasyprint import HTML

    # Tagged PDF: screen readers follow the headings, lists and tables of the letter.
    return HTML(string=html, base_url=None, url_fetcher=no_network_fetcher(refused)).write_pdf(
        pdf_identifier=identifier, pdf_tags=True)


def _child_main(argv: list[str]) -> int:
    import resource

    memory_bytes = int(argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))   # SIGXCPU would dump a core: the letter's text
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    import weasyprint  # noqa: F401 - loaded before the first letter, inside the limits
    while True:
        try:
            header = json.loads(_read_frame(stdin.fileno(), None))
            html = _read_frame(stdin.fileno(), None).decode("utf-8")
        except EOFError:
            return 0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = int(usage.ru_utime + usage.ru_stime) + 1 + int(header["cpu_seconds"])
        resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
        refused: list[str] = []
        try:
            pdf = layout(html, header["identifier"].encode("latin-1"), refused)
            answer = {"ok": True, "refused": refused}
        except MemoryError:
            pdf, answer = b"", {"ok": False, "error": "out of memory", "refused": refused}
        except Exception as err:  # noqa: BLE001 - told to the parent, which raises RenderFailed
            pdf, answer = b"", {"ok": False, "error": type(err).__name__, "refused": refused}
        _write_frame(stdout, json.dumps(answer).encode())
        _write_frame(stdout, pdf)
        stdout.flush()
        if not answer["ok"]:
            return 2


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv))
