"""Deep checks of the machine-readable answer files (issue 16): JSON, CSV and ZIP, decided by content.

Registered in ``dsar.files.inspection._CHECKERS``; ``dsar.files.inspection.ANSWER_TYPES`` lets answer files (data gathered by
hand, a manual system's export) be JSON, CSV or ZIP besides PDF and images. Identity uploads stay PDF and
images only.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile

from .rejection import _reject, _Shape

MAX_ZIP_MEMBERS = 10_000
MAX_ZIP_UNCOMPRESSED = 4 * 1024 ** 3
MAX_ZIP_RATIO = 200


def _shape() -> _Shape:
    return _Shape()


def _text(data: bytes, mime: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _reject("corrupt", detected_type=mime, detail="not UTF-8 text") from None


def _check_json(data: bytes) -> object:
    try:
        json.loads(_text(data, "application/json"))
    except ValueError as exc:
        raise _reject("corrupt", detected_type="application/json", detail=str(exc)[:100]) from None
    return _shape()


def _check_csv(data: bytes) -> object:
    text = _text(data, "text/csv")
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise _reject("corrupt", detected_type="text/csv", detail=str(exc)[:100]) from None
    widths = {len(r) for r in rows if r}
    if not rows or len(widths) != 1 or widths == {1} and len(rows) < 2:
        raise _reject("corrupt", detected_type="text/csv", detail="not a table with a header and even rows")
    return _shape()


def _check_zip(data: bytes) -> object:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                raise _reject("active_content", detected_type="application/zip", detail="too many members")
            total = 0
            for info in infos:
                name = info.filename
                if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
                    raise _reject("active_content", detected_type="application/zip", detail="unsafe member path")
                if info.flag_bits & 0x1:
                    raise _reject("encrypted", detected_type="application/zip")
                total += info.file_size
                if total > MAX_ZIP_UNCOMPRESSED or (info.compress_size and
                                                    info.file_size / info.compress_size > MAX_ZIP_RATIO):
                    raise _reject("active_content", detected_type="application/zip", detail="decompression bomb")
            bad = zf.testzip()
            if bad is not None:
                raise _reject("corrupt", detected_type="application/zip", detail="a member fails its CRC")
    except zipfile.BadZipFile as exc:
        raise _reject("corrupt", detected_type="application/zip", detail=str(exc)[:100]) from None
    return _shape()
