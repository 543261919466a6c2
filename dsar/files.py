"""Uploaded files: inspection of what a user sends, and encrypted storage.

Identity documents and answer files are the most sensitive things the service
keeps, and every upload comes from an unauthenticated stranger. So an upload is
judged by its content only (never by its name or declared type), parsed by
strict checkers that refuse what a careful office would not open, and stored
encrypted under a random name that carries nothing from the user.

No Flask here: the web layer passes a stream and turns `RejectedFile.code` into
a translated message and a 4xx.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import logging
import os
import re
import secrets
import tempfile
import threading
import unicodedata
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import magic
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from PIL import Image, ImageFile
from pypdf import PasswordType, PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

log = logging.getLogger(__name__)

ACCEPTED_TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}

# An ID card scanned at 600 dpi is about 4 megapixels and a phone photo 12 to
# 50. Above this, decoding costs hundreds of megabytes: a decompression bomb.
MAX_PIXELS = 50_000_000

# Limits on work. Inspection runs while the user waits, and a small file can
# be built to make a parser loop for minutes; real files stay far below these.
# Encoders write about ten scans in a progressive JPEG; thousands make
# libjpeg decode for minutes.
MAX_JPEG_SCANS = 100
# A JPEG has a few dozen segments (tables, metadata) before its pixels.
MAX_JPEG_SEGMENTS = 1_000
# PNG writers cut pixel data into chunks of 8 to 64 KiB.
MAX_PNG_CHUNKS = 100_000
# A 2,000-page letter has about 4,000 objects; pypdf reads some 25,000 a second.
MAX_PDF_OBJECTS = 50_000
# An identity document, a family record book or a ruling is never larger than A3 (297 × 420 mm,
# 842 × 1191 pt); 5 % more lets scanners' margins and US Tabloid (792 × 1224 pt) through. A page
# of 14,400 × 14,400 pt (the PDF maximum, or more with /UserUnit) is 1.5 KB on disk and gigabytes drawn.
MAX_PDF_PAGE_POINTS = (884, 1250)

_READ_CHUNK = 1 << 20


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
class InspectedFile:
    """What the service knows of an accepted upload, all of it from the content."""

    mime: str
    size: int
    sha256: str
    extension: str
    pages: int | None
    width: int | None
    height: int | None


@dataclass(frozen=True)
class _Shape:
    pages: int | None = None
    width: int | None = None
    height: int | None = None


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


# --------------------------------------------------------------------------
# Hidden archives (polyglots)

# A ZIP is read from its end (the end-of-central-directory record), so one
# appended to or tucked inside a PDF or an image makes a file that is both:
# the viewer shows the document, an unzip tool, Java or an antivirus sees an
# archive. A four-byte signature turns up by chance once in 4 GB of
# compressed data, so a bare search for "PK\x03\x04" and its kin would refuse
# about one 10 MB scan in 150; a signature counts only when the record around
# it is one a ZIP reader would accept.
_ZIP_METHODS = frozenset({0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 14, 18, 19, 93, 94, 95, 96, 97, 98, 99})
# 7-Zip and WinRAR find their archives at any offset; six bytes do not turn up
# by chance.
_OTHER_ARCHIVE_SIGNATURES = (b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07")


def _u16(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 2], "little")


def _u32(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 4], "little")


def _occurrences(data: bytes, needle: bytes) -> Iterator[int]:
    pos = data.find(needle)
    while pos >= 0:
        yield pos
        pos = data.find(needle, pos + 1)


def _is_zip_local_header(data: bytes, pos: int) -> bool:
    if pos + 30 > len(data):
        return False
    name_length = _u16(data, pos + 26)
    end = pos + 30 + name_length + _u16(data, pos + 28)
    return _u16(data, pos + 8) in _ZIP_METHODS and name_length > 0 and end <= len(data)


def _is_zip_central_header(data: bytes, pos: int) -> bool:
    if pos + 46 > len(data):
        return False
    name_length = _u16(data, pos + 28)
    end = pos + 46 + name_length + _u16(data, pos + 30) + _u16(data, pos + 32)
    return _u16(data, pos + 10) in _ZIP_METHODS and name_length > 0 and end <= len(data)


def _is_zip_end_record(data: bytes, pos: int) -> bool:
    if pos + 22 > len(data):
        return False
    entries_here, entries_total = _u16(data, pos + 8), _u16(data, pos + 10)
    directory_size = _u32(data, pos + 12)
    return (
        entries_here <= entries_total
        and (directory_size <= pos or directory_size == 0xFFFFFFFF)  # 0xFFFFFFFF: ZIP64
        and pos + 22 + _u16(data, pos + 20) <= len(data)
    )


# More chance signatures than this in one file is no chance; it also bounds
# the work of checking each one.
_MAX_ZIP_SIGNATURES = 64


def _find_hidden_archive(data: bytes) -> str | None:
    for signature in _OTHER_ARCHIVE_SIGNATURES:
        if signature in data:
            return f"archive signature {signature!r}"
    for signature, plausible in (
        (b"PK\x03\x04", _is_zip_local_header),
        (b"PK\x01\x02", _is_zip_central_header),
        (b"PK\x05\x06", _is_zip_end_record),
    ):
        if data.count(signature) > _MAX_ZIP_SIGNATURES:
            return f"{data.count(signature)} signatures {signature!r}"
        for pos in _occurrences(data, signature):
            if plausible(data, pos):
                return f"zip record {signature!r} at {pos}"
    return None


def _refuse_hidden_archive(data: bytes, mime: str) -> None:
    found = _find_hidden_archive(data)
    if found:
        raise _reject("polyglot", detected_type=mime, detail=found)


# --------------------------------------------------------------------------
# PDF

# Names that only appear in PDFs that run code, carry other files or reach
# outside the document. None of them belongs in a scanned identity document
# or an answer letter, and each has a history of exploits. Wherever they
# appear, as a key or a value, the file is refused.
_PDF_FORBIDDEN_NAMES = frozenset(
    {
        "/JS",
        "/JavaScript",  # scripts (also the /Names tree of document scripts)
        "/Launch",  # runs a program or opens a file
        "/EmbeddedFile",
        "/EmbeddedFiles",
        "/EF",
        "/FileAttachment",  # attachments: a file inside the file
        "/XFA",  # XML forms: scripted, and rendered by Acrobat alone
        "/RichMedia",
        "/RichMediaExecute",  # Flash and 3D media
        "/Rendition",
        "/Movie",
        "/Sound",  # media players, which may run script
        "/GoToR",
        "/GoToE",
        "/GoToDp",  # open another file (and leak Windows credentials over SMB)
        "/SubmitForm",
        "/ImportData",  # send or load form data
    }
)
# Acrobat's Named actions can trigger any menu item (print, save as…); only
# page turning is harmless.
_PDF_NAMED_ACTIONS = frozenset({"/NextPage", "/PrevPage", "/FirstPage", "/LastPage"})
# A clickable link to a web page or an address is ordinary; file:, javascript:
# or a UNC path is not.
_PDF_URI_SCHEMES = ("http://", "https://", "mailto:")


def _raw_name_pattern(names: frozenset[str]) -> re.Pattern[bytes]:
    # A name may spell any character as #xx ("/J#61vaScript" is /JavaScript),
    # so each character matches itself or its escape; the name must end
    # there (at a delimiter, white space or the end of the file).
    def spelled(char: str) -> bytes:
        code = ord(char)
        return b"(?:%s|#%X|#%x)" % (re.escape(char.encode()), code, code)

    alternatives = b"|".join(b"".join(spelled(c) for c in name[1:]) for name in sorted(names))
    return re.compile(rb"/(?:%s)(?![^\x00\t\n\x0c\r ()<>\[\]{}/%%])" % alternatives)


_PDF_FORBIDDEN_RAW = _raw_name_pattern(_PDF_FORBIDDEN_NAMES)


def _check_pdf(data: bytes) -> _Shape:
    mime = "application/pdf"
    if not data.startswith(b"%PDF-"):
        # libmagic says PDF when "%PDF-" comes after a few bytes; readers
        # accept that too. Bytes before the header are how HTML/PDF and
        # script/PDF polyglots are made, and no PDF writer puts them there.
        raise _reject("mismatch", detected_type=mime, detail="bytes before %PDF-")
    _refuse_hidden_archive(data, mime)
    if b"%%EOF" not in data[-1024:]:
        # Every complete PDF ends with %%EOF (Acrobat looks in the last 1024
        # bytes); its absence is the mark of a cut-off upload.
        raise _reject("truncated", detected_type=mime)

    try:
        # strict=True: a PDF that needs repairing is refused rather than
        # guessed at, since another reader might repair it differently.
        reader = PdfReader(io.BytesIO(data), strict=True)
        if reader.is_encrypted:
            # A password that opens the file for reading means staff cannot
            # read it without the user. An owner password alone (printing or
            # copying restricted, common in notarial and official PDFs)
            # opens with an empty password: those are read and checked.
            try:
                opened = reader.decrypt("")
            except Exception as exc:  # unknown security handler, certificates…
                raise _reject("encrypted", detected_type=mime, detail=repr(exc)) from exc
            if opened == PasswordType.NOT_DECRYPTED:
                raise _reject("encrypted", detected_type=mime)
        objects = sum(map(len, reader.xref.values())) + len(reader.xref_objStm)
        if objects > MAX_PDF_OBJECTS:
            raise _reject("too_complex", detected_type=mime, detail=f"{objects} objects")
        _refuse_pdf_active_content(reader, data)
        pages = len(reader.pages)
        for page in reader.pages:  # resolves each page too: a broken page tree raises
            _refuse_huge_page(page)
    except RejectedFile:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        # pypdf raises many kinds of error on hostile input (PdfReadError,
        # ValueError, KeyError, RecursionError…); all mean "cannot be read".
        raise _reject("corrupt", detected_type=mime, detail=repr(exc)[:200]) from exc
    if pages == 0:
        raise _reject("empty", detected_type=mime, detail="no pages")
    return _Shape(pages=pages)


def _refuse_huge_page(page) -> None:
    """Refuse a page larger than A3 in either box a reader may draw (MediaBox, CropBox), scaled by /UserUnit."""
    unit = float(page.user_unit or 1)
    for box in (page.mediabox, page.cropbox):
        short, long = sorted((abs(float(box.width)) * unit, abs(float(box.height)) * unit))
        if short > MAX_PDF_PAGE_POINTS[0] or long > MAX_PDF_PAGE_POINTS[1]:
            raise _reject("page_too_large", detected_type="application/pdf", detail=f"{short:.0f}x{long:.0f} pt")


def _refuse_pdf_active_content(reader, data: bytes) -> None:
    # Two views of the same file. The object walk sees what a viewer sees,
    # including objects compressed inside object streams and names written
    # with #-escapes; the raw scan (as pdfid does) sees objects outside the
    # cross-reference table, which a viewer may find when it repairs a file.
    for obj in _pdf_objects(reader):
        _check_pdf_object(obj)
    found = _PDF_FORBIDDEN_RAW.search(_outside_streams(data))
    if found:
        raise _active(f"raw {found.group()!r}")


def _outside_streams(data: bytes) -> bytes:
    # Stream bodies are binary (compressed pixels, fonts) in which "/JS"
    # followed by a space turns up by chance; leave them out. str.find keeps
    # this linear whatever the file holds.
    parts = []
    pos = 0
    while True:
        start = data.find(b"stream", pos)
        if start < 0:
            parts.append(data[pos:])
            break
        parts.append(data[pos : start + 6])
        end = data.find(b"endstream", start + 6)
        if end < 0:
            break
        pos = end + 9
    return b" ".join(parts)


def _pdf_objects(reader) -> Iterator[object]:
    """The trailer and every object of the cross-reference table, whether a
    page refers to it or not (an orphan script is still a script)."""
    yield reader.trailer
    for generation, numbers in list(reader.xref.items()):
        for number in list(numbers):
            yield IndirectObject(number, generation, reader).get_object()
    for number in list(reader.xref_objStm):
        yield IndirectObject(number, 0, reader).get_object()


def _check_pdf_object(obj) -> None:
    # Iterative walk over the direct objects nested in one indirect object:
    # references are not followed here, since every indirect object is
    # visited on its own; a deep nesting cannot exhaust Python's stack.
    pending = [obj]
    while pending:
        item = pending.pop()
        if isinstance(item, NameObject):
            if item in _PDF_FORBIDDEN_NAMES:
                raise _active(f"name {item}")
        elif isinstance(item, ArrayObject):
            pending.extend(item)
        elif isinstance(item, DictionaryObject):
            for key, value in item.items():
                if key in _PDF_FORBIDDEN_NAMES:
                    raise _active(f"key {key}")
                if key == "/OpenAction":
                    _check_automatic_action(value.get_object())
                elif key == "/AA":
                    for trigger in value.get_object().values():
                        _check_automatic_action(trigger.get_object())
                pending.append(value)
            _check_clickable_action(item)


def _check_automatic_action(action, depth: int = 0) -> None:
    # An action that runs when the file is opened, a page shown or a field
    # touched works without the reader's consent: only moving to a page of
    # the same document (a destination array or /GoTo) is allowed.
    if depth > 20:
        raise _active("action chain too long")
    if isinstance(action, ArrayObject):
        return  # an explicit destination: which page to show first
    kind = _resolved(action, "/S") if isinstance(action, DictionaryObject) else None
    if kind != "/GoTo":
        raise _active(f"automatic action {kind}")
    following = _resolved(action, "/Next")
    if following is None:
        return
    for step in following if isinstance(following, ArrayObject) else [following]:
        _check_automatic_action(step.get_object(), depth + 1)


def _check_clickable_action(item: DictionaryObject) -> None:
    kind = _resolved(item, "/S")
    if kind == "/Named" and _resolved(item, "/N") not in _PDF_NAMED_ACTIONS:
        raise _active(f"named action {_resolved(item, '/N')}")
    if kind == "/URI" and "/URI" in item:
        uri = _resolved(item, "/URI")
        text = uri.decode("latin-1") if isinstance(uri, bytes) else str(uri)
        if not text.strip().lower().startswith(_PDF_URI_SCHEMES):
            raise _active("link to a non-web address")


def _resolved(item: DictionaryObject, key: str):
    # A value may be a reference to another object; compare what it points to.
    value = item.get(key)
    return value.get_object() if value is not None else None


def _active(detail: str) -> RejectedFile:
    return _reject("active_content", detected_type="application/pdf", detail=detail)


# --------------------------------------------------------------------------
# Images


def _check_jpeg(data: bytes) -> _Shape:
    mime = "image/jpeg"
    if not data.startswith(b"\xff\xd8\xff"):
        raise _reject("mismatch", detected_type=mime, detail="no SOI marker")
    _refuse_hidden_archive(data, mime)
    # Walk the markers ourselves: the dimensions are known before any pixel
    # is decoded, and a missing end-of-image marker is found whatever
    # Pillow's global LOAD_TRUNCATED_IMAGES says. Data after the end marker
    # is allowed: phones put a second picture (MPF) or a short video
    # (motion photos) there, and hidden archives were refused above.
    width, height = _walk_jpeg(data)
    _decode_image(data, ["JPEG", "MPO"], mime)  # MPO: JPEG with MPF pictures
    return _Shape(width=width, height=height)


# Start-of-frame markers carry the dimensions; C4, C8 and CC are other segments.
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _walk_jpeg(data: bytes) -> tuple[int, int]:
    mime = "image/jpeg"
    size = len(data)
    pos = 2
    width = height = None
    scans = segments = fill = 0
    while True:
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise _reject("too_complex", detected_type=mime, detail=f"more than {MAX_JPEG_SEGMENTS} segments")
        if pos >= size:
            raise _reject("truncated", detected_type=mime)
        if data[pos] != 0xFF:
            raise _reject("corrupt", detected_type=mime, detail=f"no marker at {pos}")
        fill_end = _JPEG_FILL.match(data, pos).end()
        fill += fill_end - pos - 1
        if fill > _MAX_JPEG_FILL:
            raise _reject("too_complex", detected_type=mime, detail="fill bytes")
        pos = fill_end
        if pos >= size:
            raise _reject("truncated", detected_type=mime)
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # end of image
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a segment
            continue
        if marker in (0x00, 0xD8):
            raise _reject("corrupt", detected_type=mime, detail=f"marker {marker:#x} at {pos}")
        if pos + 2 > size:
            raise _reject("truncated", detected_type=mime)
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2:
            raise _reject("corrupt", detected_type=mime, detail="segment length")
        if pos + length > size:
            raise _reject("truncated", detected_type=mime)
        if marker in _JPEG_SOF:
            if length < 8:
                raise _reject("corrupt", detected_type=mime, detail="short frame header")
            height = int.from_bytes(data[pos + 3 : pos + 5], "big")
            width = int.from_bytes(data[pos + 5 : pos + 7], "big")
            if width == 0 or height == 0:
                raise _reject("corrupt", detected_type=mime, detail="zero dimension")
            if width * height > MAX_PIXELS:
                raise _reject("too_many_pixels", detected_type=mime, detail=f"{width}x{height}")
        pos += length
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            scans += 1
            if width is None:
                raise _reject("corrupt", detected_type=mime, detail="scan before frame header")
            if scans > MAX_JPEG_SCANS:
                raise _reject("too_complex", detected_type=mime, detail=f"more than {MAX_JPEG_SCANS} scans")
            pos = _skip_entropy_coded(data, pos)
    if width is None or height is None:
        raise _reject("corrupt", detected_type=mime, detail="no frame header")
    return width, height


# In entropy-coded data a 0xFF byte is followed by 0x00 (a stuffed byte), a
# restart marker or another 0xFF (fill); anything else is the next marker.
# A regular expression without repetition: linear, and in C.
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# Any number of 0xFF may precede a marker's code; encoders write none, and
# Pillow reads them one by one (megabytes of them take it a minute).
_JPEG_FILL = re.compile(rb"\xff*")
_MAX_JPEG_FILL = 1024


def _skip_entropy_coded(data: bytes, pos: int) -> int:
    found = _JPEG_NEXT_MARKER.search(data, pos)
    if found is None:
        raise _reject("truncated", detected_type="image/jpeg")
    return found.start()


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_png(data: bytes) -> _Shape:
    mime = "image/png"
    if not data.startswith(_PNG_SIGNATURE):
        raise _reject("mismatch", detected_type=mime, detail="no PNG signature")
    _refuse_hidden_archive(data, mime)
    width, height, end = _walk_png(data)
    if end < len(data):
        # No PNG writer adds bytes after IEND. They are where polyglots hide,
        # and where broken cropping tools (aCropalypse, 2023) left the
        # uncropped original: data the user meant to remove.
        raise _reject("trailing_data", detected_type=mime, detail=f"{len(data) - end} bytes")
    _decode_image(data, ["PNG"], mime)
    return _Shape(width=width, height=height)


def _walk_png(data: bytes) -> tuple[int, int, int]:
    # Every chunk's CRC is checked here, and the dimensions are read from
    # IHDR before Pillow decodes anything.
    mime = "image/png"
    view = memoryview(data)
    size = len(data)
    pos = len(_PNG_SIGNATURE)
    width = height = None
    for _ in range(MAX_PNG_CHUNKS):
        if pos + 12 > size:
            raise _reject("truncated", detected_type=mime, detail="no IEND")
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if length > 0x7FFFFFFF or not kind.isalpha() or not kind.isascii():
            raise _reject("corrupt", detected_type=mime, detail=f"chunk header at {pos}")
        end = pos + 12 + length
        if end > size:
            raise _reject("truncated", detected_type=mime, detail=f"chunk {kind!r}")
        crc = int.from_bytes(data[end - 4 : end], "big")
        if zlib.crc32(view[pos + 4 : end - 4]) != crc:
            raise _reject("corrupt", detected_type=mime, detail=f"bad CRC in {kind!r}")
        if width is None:
            if kind != b"IHDR" or length != 13:
                raise _reject("corrupt", detected_type=mime, detail="IHDR is not first")
            width = int.from_bytes(data[pos + 8 : pos + 12], "big")
            height = int.from_bytes(data[pos + 12 : pos + 16], "big")
            if width == 0 or height == 0:
                raise _reject("corrupt", detected_type=mime, detail="zero dimension")
            if width * height > MAX_PIXELS:
                raise _reject("too_many_pixels", detected_type=mime, detail=f"{width}x{height}")
        if kind == b"IEND":
            return width, height, end
        pos = end
    raise _reject("too_complex", detected_type=mime, detail=f"more than {MAX_PNG_CHUNKS} chunks")


_STRICT_DECODE = threading.Lock()


@contextlib.contextmanager
def _strict_pillow():
    """Pillow's truncated-image tolerance off while we decode.

    WeasyPrint sets ``ImageFile.LOAD_TRUNCATED_IMAGES = True`` for the whole
    process when it is imported; left so, a damaged upload would decode as if whole.
    """
    with _STRICT_DECODE:
        before = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = before


def _decode_image(data: bytes, formats: list[str], mime: str) -> None:
    # Decode every pixel once: a file that a viewer could not show is refused
    # now, while the user is still there to send another. `formats` keeps
    # Pillow from trying its other, less-tested parsers on the bytes.
    with _strict_pillow():
        _decode_image_strictly(data, formats, mime)


def _decode_image_strictly(data: bytes, formats: list[str], mime: str) -> None:
    try:
        with Image.open(io.BytesIO(data), formats=formats) as image:
            if image.width * image.height > MAX_PIXELS:
                raise _reject("too_many_pixels", detected_type=mime)
            image.verify()
        with Image.open(io.BytesIO(data), formats=formats) as image:
            image.load()
    except RejectedFile:
        raise
    except Image.DecompressionBombError as exc:
        raise _reject("too_many_pixels", detected_type=mime, detail=str(exc)) from exc
    except MemoryError:
        raise
    except Exception as exc:
        # Pillow raises OSError, SyntaxError, ValueError, struct.error… on
        # damaged files.
        code = "truncated" if "truncated" in str(exc) else "corrupt"
        raise _reject(code, detected_type=mime, detail=repr(exc)[:200]) from exc


from .answer_types import _check_csv, _check_json, _check_zip  # noqa: E402 - they use _reject and _Shape above


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


# --------------------------------------------------------------------------
# Encrypted storage


def generate_key() -> str:
    """A new Fernet key (urlsafe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode("ascii")


class FileDecryptionError(RuntimeError):
    """A stored file that none of the configured keys opens: a key is missing
    from the configuration or the file was altered. An operator's problem."""


_NAME_LENGTH = 43  # secrets.token_urlsafe(32): 32 random bytes, unpadded base64
_NAME = re.compile(r"[A-Za-z0-9_-]{%d}" % _NAME_LENGTH)


class FileStore:
    """Files encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under random names.

    keys[0] encrypts; every key decrypts, so a new key is put first, the
    files are rotated (`rotate_all`), then the old key is removed. Only
    ciphertext ever touches the disk. Files live at root/aa/bb/<name>, so no
    directory grows to millions of entries.
    """

    def __init__(self, root: str | os.PathLike, keys: Sequence[str]):
        if isinstance(keys, (str, bytes)) or not keys:
            raise ValueError("keys must be a non-empty sequence of Fernet keys")
        fernets = [Fernet(key) for key in keys]  # raises ValueError on a malformed key
        self._current = fernets[0]
        self._fernet = MultiFernet(fernets)
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def put(self, data: bytes) -> str:
        """Encrypt and store `data`; return its new storage name."""
        token = self._fernet.encrypt(data)
        while True:
            name = secrets.token_urlsafe(32)
            path = self._path(name)
            if not path.exists():  # 256 random bits: a collision is theoretical
                break
        # One level at a time: mkdir(parents=True) would give the middle
        # level the umask's permissions instead of 0o700.
        for folder in (path.parent.parent, path.parent):
            folder.mkdir(mode=0o700, exist_ok=True)
        self._write_atomically(path, token)
        return name

    def get(self, name: str) -> bytes:
        """The plaintext of a stored file. Raises FileNotFoundError."""
        return b"".join(self.open_stream(name))

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def writer(self, chunk_size: int = 1 << 20) -> "StreamWriter":
        """A file written piece by piece, never held whole in memory (collected tables, packs).

        Stored as a header line then one Fernet token per chunk and line; ``get``,
        ``open_stream`` and ``rotate`` read both forms.
        """
        return StreamWriter(self, chunk_size)

    def open_stream(self, name: str) -> Iterator[bytes]:
        """The plaintext of a stored file, chunk by chunk (a file from ``put`` is one chunk)."""
        with open(self._path(name), "rb") as fh:
            first = fh.readline()
            if first != STREAM_HEADER:
                yield self._decrypt(name, first + fh.read())
                return
            for line in fh:
                yield self._decrypt(name, line.rstrip(b"\n"))

    def _decrypt(self, name: str, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise FileDecryptionError(f"stored file {name} cannot be decrypted") from exc

    def delete(self, name: str) -> bool:
        """Remove a stored file; True if it existed."""
        path = self._path(name)
        try:
            with _locked(path):
                path.unlink()
        except FileNotFoundError:
            return False
        return True

    def rotate(self, name: str) -> bool:
        """Re-encrypt a file with the current key; True if it was under an older one."""
        path = self._path(name)
        # The lock keeps a rotation from bringing back a file deleted while it
        # was being rewritten (os.replace would recreate it): a deleted
        # identity document must stay deleted.
        with _locked(path) as handle:
            if os.fstat(handle.fileno()).st_nlink == 0:
                return False  # deleted while we waited for the lock
            token = handle.read()
            streamed = token.startswith(STREAM_HEADER)
            tokens = token[len(STREAM_HEADER):].splitlines() if streamed else [token]
            try:
                for t in tokens:
                    self._current.decrypt(t)
                return False
            except InvalidToken:
                pass
            try:
                rotated = [self._fernet.rotate(t) for t in tokens]
            except InvalidToken as exc:
                raise FileDecryptionError(f"stored file {name} cannot be decrypted") from exc
            out = STREAM_HEADER + b"".join(t + b"\n" for t in rotated) if streamed else rotated[0]
            self._write_atomically(path, out)
        return True

    def rotate_all(self) -> int:
        """Rotate every stored file; return how many were re-encrypted."""
        rotated = 0
        for path in sorted(self.root.glob("*/*/*")):
            if not _NAME.fullmatch(path.name):
                continue  # temporary files of writes in progress
            try:
                rotated += self.rotate(path.name)
            except FileNotFoundError:
                continue  # deleted meanwhile
        return rotated

    def _path(self, name: str) -> Path:
        # Names come from the database, but a path built from a string is
        # checked anyway: exactly the alphabet and length put() produces
        # (fullmatch, so no trailing newline), which leaves no "/" or "..".
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError("invalid storage name")
        return self.root / name[0:2] / name[2:4] / name

    @staticmethod
    def _write_atomically(path: Path, token: bytes) -> None:
        # A reader sees the old file or the new one, never half of one; a
        # crash leaves at worst a temporary file of ciphertext.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(token)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        except OSError as exc:  # some filesystems cannot sync a directory
            if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
                raise
        finally:
            os.close(directory)


STREAM_HEADER = b"dsar-stream-1\n"


class StreamWriter:
    """Write a stored file in encrypted chunks; the file appears (atomically) only when closed without error.

    ``with store.writer() as w: w.write(b"…")``; then ``w.name`` and ``w.sha256``
    (of the plaintext) and ``w.size``.
    """

    def __init__(self, store: FileStore, chunk_size: int):
        self.store, self.chunk_size = store, chunk_size
        self.name: str | None = None
        self.size = 0
        self._hash = hashlib.sha256()
        self._buffer = bytearray()

    def __enter__(self) -> "StreamWriter":
        self.store.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=self.store.root, prefix=".tmp-")
        os.fchmod(fd, 0o600)
        self._out = os.fdopen(fd, "wb")
        self._out.write(STREAM_HEADER)
        return self

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)
        self._buffer += data
        while len(self._buffer) >= self.chunk_size:
            self._flush(bytes(self._buffer[:self.chunk_size]))
            del self._buffer[:self.chunk_size]

    def _flush(self, chunk: bytes) -> None:
        self._out.write(self.store._fernet.encrypt(chunk) + b"\n")

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self._buffer:
                self._flush(bytes(self._buffer))
            self._buffer = bytearray()
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            if exc_type is not None:
                return
            while True:
                name = secrets.token_urlsafe(32)
                path = self.store._path(name)
                if not path.exists():
                    break
            for folder in (path.parent.parent, path.parent):
                folder.mkdir(mode=0o700, exist_ok=True)
            os.replace(self._tmp, path)
            self.name = name
        finally:
            if self.name is None:
                try:
                    os.unlink(self._tmp)
                except OSError:
                    pass


class _locked:
    """An exclusive flock on a stored file, held while it is deleted or rewritten."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> BinaryIO:
        self.handle = open(self.path, "rb")  # raises FileNotFoundError
        fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX)
        return self.handle

    def __exit__(self, *exc_info) -> None:
        self.handle.close()  # closing releases the lock
