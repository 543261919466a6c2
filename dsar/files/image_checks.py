"""The deep checks of JPEG and PNG images: markers and chunks walked, dimensions bounded, every pixel decoded."""
from __future__ import annotations

import contextlib
import io
import re
import threading
import zlib

from PIL import Image, ImageFile
from .archives import _refuse_hidden_archive
from .rejection import RejectedFile, _Shape, _reject


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
def _check_dimensions(width: int, height: int, mime: str) -> None:
    """The size a header declares: refused when zero, or above MAX_PIXELS before anything is decoded."""
    if width == 0 or height == 0:
        raise _reject("corrupt", detected_type=mime, detail="zero dimension")
    if width * height > MAX_PIXELS:
        raise _reject("too_many_pixels", detected_type=mime, detail=f"{width}x{height}")


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
            _check_dimensions(width, height, mime)
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
            _check_dimensions(width, height, mime)
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
