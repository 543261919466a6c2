"""Pictures of a PDF's pages, so that staff can read a PDF identity document.

Browsers refuse to run their PDF viewer inside a sandboxed frame, and the
sandbox is what keeps an uploaded file from acting on the back-office. So the
server draws each page (pdfium, the engine Chromium itself uses) into a PNG:
only pixels reach the staff member's browser.

A page says how large it is, and the requester writes the page (issue 12: ten
pages of 14,400 × 14,400 pt in 1.5 KB took 8 s and 3.3 GB per preview). So:

- uploads refuse pages larger than A3 (dsar.files), but documents stored before
  that check, or a size pdfium reads differently from pypdf, still reach here;
- every preview is scaled down to at most MAX_PREVIEW_PIXELS, whatever the page says;
- the drawing runs in a child process (this file, run as a script) that caps
  its own memory and CPU time with ``resource.setrlimit`` and that the web
  worker waits for with a timeout. A runaway kills the child, never the worker.
  Why a child process and not an RQ job: the embedded mode runs jobs in the web
  process itself, so a job would protect nothing there; a child process works the
  same under the Flask development server, gunicorn and an RQ worker, and the
  staff member's browser waits for the picture either way.
"""
from __future__ import annotations

import io
import logging
import math
import subprocess
import sys

import pypdfium2 as pdfium

log = logging.getLogger(__name__)

MAX_PREVIEW_PAGES = 10
DPI = 110
# 110 dpi on an A3 page is 1,286 × 1,819 = 2.3 Mpx: the cap never shrinks a real document's page.
MAX_PREVIEW_PIXELS = 4_000_000
# A ribbon page (200 × 14,400 pt) keeps within the pixel cap but not within a screen.
MAX_PREVIEW_SIDE = 4_000
# The child's limits. An A3 preview takes about 0.3 s and 150 MB of address space
# (interpreter, pdfium, Pillow, the 7 MB bitmap and its PNG); ten times that is a runaway.
RENDER_MEMORY_BYTES = 768 * 1024 * 1024
RENDER_CPU_SECONDS = 10
RENDER_TIMEOUT_SECONDS = 30           # wall clock: the machine may be busy
_NO_SUCH_PAGE = 3


class PreviewFailed(RuntimeError):
    """The page could not be drawn within the limits (or at all); the document can still be opened whole."""


def page_count(data: bytes) -> int:
    pdf = pdfium.PdfDocument(data)
    try:
        return len(pdf)
    finally:
        pdf.close()


def preview_scale(width_pt: float, height_pt: float) -> float:
    """pdfium's scale for a page of ``width_pt`` × ``height_pt``: DPI, shrunk to the pixel and side caps."""
    width, height = max(width_pt, 1.0), max(height_pt, 1.0)
    # pdfium rounds each side up to a whole pixel: aim a pixel below each cap.
    return min(DPI / 72,
               math.sqrt(MAX_PREVIEW_PIXELS / (width * height)) * 0.999,
               (MAX_PREVIEW_SIDE - 1) / max(width, height))


def draw_page(data: bytes, page_number: int) -> bytes:
    """PNG of page ``page_number`` (1-based), in this process; IndexError when there is no such page.

    Only the child process calls this (see render_page); tests and the bench call it to measure.
    """
    pdf = pdfium.PdfDocument(data)
    try:
        if not 1 <= page_number <= min(len(pdf), MAX_PREVIEW_PAGES):
            raise IndexError(page_number)
        page = pdf[page_number - 1]
        width, height = page.get_size()
        image = page.render(scale=preview_scale(width, height)).to_pil()
        out = io.BytesIO()
        image.save(out, "PNG", optimize=False)
        page.close()
        return out.getvalue()
    finally:
        pdf.close()


def render_page(data: bytes, page_number: int, *, memory_bytes: int | None = None,
                cpu_seconds: int | None = None, timeout: float | None = None) -> bytes:
    """PNG of page ``page_number`` (1-based), drawn in a child process with capped memory and CPU.

    IndexError when there is no such page; PreviewFailed when the child died, ran out of time or failed.
    """
    memory_bytes = memory_bytes or RENDER_MEMORY_BYTES
    cpu_seconds = cpu_seconds or RENDER_CPU_SECONDS
    timeout = timeout or RENDER_TIMEOUT_SECONDS
    # -I: isolated (no PYTHON* variables, no user site, the script's folder not on sys.path): the child
    # imports pypdfium2 and Pillow only, never dsar or the app.
    command = [sys.executable, "-I", __file__, str(page_number), str(memory_bytes), str(cpu_seconds)]
    try:
        child = subprocess.run(command, input=data, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        log.warning("page preview: the drawing took longer than %s s and was stopped", timeout)
        raise PreviewFailed("timeout") from None
    if child.returncode == _NO_SUCH_PAGE:
        raise IndexError(page_number)
    if child.returncode != 0 or not child.stdout.startswith(b"\x89PNG"):
        # A negative code is the signal that killed it (SIGXCPU, SIGKILL); stderr holds no document content.
        log.warning("page preview: the drawing failed (exit %s): %s", child.returncode,
                    child.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or "")
        raise PreviewFailed(f"exit {child.returncode}")
    return child.stdout


def _child_main(argv: list[str]) -> int:
    import resource

    page_number, memory_bytes, cpu_seconds = int(argv[1]), int(argv[2]), int(argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    data = sys.stdin.buffer.read()
    try:
        png = draw_page(data, page_number)
    except IndexError:
        return _NO_SUCH_PAGE
    except MemoryError:
        sys.stderr.write("out of memory\n")
        return 2
    sys.stdout.buffer.write(png)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv))
