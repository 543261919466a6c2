"""Refusing an upload: the refusal codes, their sentences, and the shape a checker reports."""
from __future__ import annotations

import logging
from dataclasses import dataclass


log = logging.getLogger(__name__)


class RejectedFile(ValueError):
    """An upload the service refuses; a user caused it, so the web layer answers 4xx.

    `code` is stable and machine-readable (the web layer translates by code);
    `message` is a short English sentence for the user; `detected_type` is what
    libmagic saw, for logs, never shown.
    """

    def __init__(self, code: str, message: str, *, detected_type: str | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detected_type = detected_type


# One sentence per code, so every refusal of a kind reads the same.
_MESSAGES = {
    "empty": "The file is empty.",
    "too_large": "The file is too large.",
    "type_not_accepted": "This type of file is not accepted. Please send a PDF, JPEG or PNG file.",
    "mismatch": "The file's content does not match a PDF, JPEG or PNG file.",
    "truncated": "The file is incomplete: it was probably cut off while being copied or sent.",
    "encrypted": "The PDF is protected by a password. Please send it without a password.",
    "active_content": (
        "The PDF contains scripts, attachments, forms or automatic actions. "
        "Please send a scan or print it to a new PDF."
    ),
    "corrupt": "The file is damaged and cannot be read.",
    "polyglot": "The file has another file (such as an archive) hidden inside it.",
    "trailing_data": "The image has extra data after its end. Please save or export it again.",
    "too_many_pixels": "The image is too large in pixels. Please send a smaller image.",
    "too_complex": "The file is too complex to be checked. Please send a simpler file, such as a scan.",
    "page_too_large": "A page of the PDF is larger than A3. Please send a scan of the document at its real size.",
}


def _reject(code: str, *, detected_type: str | None = None, detail: str = "") -> RejectedFile:
    # The detail helps whoever reads the logs; the user only sees the message.
    log.info("upload rejected: code=%s detected=%s %s", code, detected_type, detail)
    return RejectedFile(code, _MESSAGES[code], detected_type=detected_type)


@dataclass(frozen=True)
class _Shape:
    """What a deep checker learnt of a file: its pages (PDF) or dimensions (images)."""

    pages: int | None = None
    width: int | None = None
    height: int | None = None
