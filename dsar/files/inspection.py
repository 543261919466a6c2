"""Inspection of an upload: libmagic decides the type from the content, a deep checker per type decides the rest."""
from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

import magic
from .answer_types import _check_csv, _check_json, _check_zip
from .image_checks import _check_jpeg, _check_png
from .pdf_checks import _check_pdf
from .rejection import _reject, _Shape


log = logging.getLogger(__name__)

ACCEPTED_TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}


_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class InspectedFile:
    """What the service knows of an accepted upload, all of it from the content."""

    mime: str
    size: int
    sha256: str
    extension: str
    pages: int | None
    width: int | None
    height: int | None


def inspect_upload(
    stream: BinaryIO,
    *,
    filename: str | None,
    declared_type: str | None,
    max_bytes: int,
    accepted: Mapping[str, str] = ACCEPTED_TYPES,
) -> tuple[InspectedFile, bytes]:
    """Read an upload from `stream`, decide what it is from its content, check it deeply.

    Returns the facts about the file and the bytes read, for the caller to
    store. Raises RejectedFile for anything the user can fix. `filename` and
    `declared_type` decide nothing: a PNG named "photo.pdf" is a PNG, stored
    as .png; the name is for display only (see `display_name`).
    """
    if max_bytes < 1:
        raise ValueError("max_bytes must be positive")
    unknown = set(accepted) - set(_CHECKERS)
    if unknown:
        # A type without a deep checker would be accepted on libmagic's word
        # alone; that is a programming error, not a user's.
        raise ValueError(f"no checker for accepted types: {sorted(unknown)}")

    data = _read_at_most(stream, max_bytes + 1)
    if not data:
        raise _reject("empty")
    if len(data) > max_bytes:
        raise _reject("too_large", detail=f"limit={max_bytes}")

    mime = magic.from_buffer(data, mime=True)
    if mime == "text/plain" and ("application/json" in accepted or "text/csv" in accepted):
        # libmagic calls much JSON and CSV plain text: the content decides which one it is.
        mime = _sniff_text(data)
    if declared_type and declared_type.split(";")[0].strip().lower() != mime:
        # Browsers guess the declared type from the extension; a difference is
        # common and harmless, but worth counting. Not the filename: it may
        # hold the user's name.
        log.info("upload declared %r, content is %s", declared_type[:100], mime)
    if mime not in accepted:
        # Executables, HTML, SVG (which can carry script), archives, office
        # files, GIF/WebP/TIFF: staff have no use for them and some of them run
        # code when opened. One refusal, one message: send a PDF, JPEG or PNG.
        raise _reject("type_not_accepted", detected_type=mime)

    shape = _CHECKERS[mime](data)
    inspected = InspectedFile(
        mime=mime,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        extension=accepted[mime],
        pages=shape.pages,
        width=shape.width,
        height=shape.height,
    )
    return inspected, data


def _sniff_text(data: bytes) -> str:
    head = data.lstrip()[:1]
    return "application/json" if head in (b"{", b"[") else "text/csv"


def _read_at_most(stream: BinaryIO, limit: int) -> bytes:
    # Never ask for more than `limit` in total: an oversized body is refused
    # after reading one byte past the limit, never read whole into memory.
    chunks = []
    remaining = limit
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def display_name(filename: str | None, *, max_length: int = 100) -> str:
    """A user's file name made safe to show back: no path, no control or
    direction-override characters (which make "gpj.exe" look like "exe.jpg").

    It is still text from a stranger: templates must escape it as usual.
    """
    if not filename:
        return "document"
    name = unicodedata.normalize("NFC", filename)
    name = re.split(r"[/\\]", name)[-1]
    # Cc: control characters; Cf: format characters, among them the bidi
    # overrides and zero-width characters.
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))
    name = name.strip(" .")
    if len(name) > max_length:
        stem, dot, ext = name.rpartition(".")
        ext = dot + ext if dot and len(ext) <= 10 else ""
        name = name[: max_length - len(ext)] + ext
    return name or "document"


# A type is accepted only if it has a deep checker here; see inspect_upload.
_CHECKERS: dict[str, Callable[[bytes], _Shape]] = {
    "application/pdf": _check_pdf,
    "image/jpeg": _check_jpeg,
    "image/png": _check_png,
    "application/json": _check_json,
    "text/csv": _check_csv,
    "application/zip": _check_zip,
}
#: What an answer file may be (issue 16): the upload types, plus machine-readable exports.
ANSWER_TYPES = {**ACCEPTED_TYPES, "application/json": ".json", "text/csv": ".csv", "application/zip": ".zip"}
