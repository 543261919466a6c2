"""Pictures of a PDF's pages, so that staff can read a PDF identity document.

Browsers refuse to run their PDF viewer inside a sandboxed frame, and the
sandbox is what keeps an uploaded file from acting on the back-office. So the
server draws each page (pdfium, the engine Chromium itself uses) into a PNG:
only pixels reach the staff member's browser.
"""
from __future__ import annotations

import io

import pypdfium2 as pdfium

MAX_PREVIEW_PAGES = 10
DPI = 110


def page_count(data: bytes) -> int:
    pdf = pdfium.PdfDocument(data)
    try:
        return len(pdf)
    finally:
        pdf.close()


def render_page(data: bytes, page_number: int) -> bytes:
    """PNG of page ``page_number`` (1-based); IndexError when there is no such page."""
    pdf = pdfium.PdfDocument(data)
    try:
        if not 1 <= page_number <= min(len(pdf), MAX_PREVIEW_PAGES):
            raise IndexError(page_number)
        page = pdf[page_number - 1]
        image = page.render(scale=DPI / 72).to_pil()
        out = io.BytesIO()
        image.save(out, "PNG", optimize=False)
        page.close()
        return out.getvalue()
    finally:
        pdf.close()
