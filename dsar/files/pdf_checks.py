"""The deep check of a PDF: strict parsing, no password, no active content, pages no larger than A3."""
from __future__ import annotations

import io
import re
from collections.abc import Iterator

from pypdf import PasswordType, PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject
from .archives import _refuse_hidden_archive
from .rejection import RejectedFile, _Shape, _reject


# Limits on work: inspection runs while the user waits, and a small file can be built to make a parser
# loop for minutes. A 2,000-page letter has about 4,000 objects; pypdf reads some 25,000 a second.
MAX_PDF_OBJECTS = 50_000
# An identity document, a family record book or a ruling is never larger than A3 (297 × 420 mm,
# 842 × 1191 pt); 5 % more lets scanners' margins and US Tabloid (792 × 1224 pt) through. A page
# of 14,400 × 14,400 pt (the PDF maximum, or more with /UserUnit) is 1.5 KB on disk and gigabytes drawn.
MAX_PDF_PAGE_POINTS = (884, 1250)


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
