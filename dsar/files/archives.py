"""Hidden archives (polyglots): a ZIP, 7-Zip or RAR archive tucked inside a PDF or an image."""
from __future__ import annotations

from collections.abc import Iterator

from .rejection import _reject


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
