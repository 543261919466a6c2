"""Upload inspection and encrypted storage (dsar/files/)."""

import hashlib
import io
import os
import re
import stat
import sys
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

# tests/conftest.py puts tests/ on sys.path; these unit tests also run without
# it (--noconftest), so make the repository and tests/ importable either way.
_TESTS = Path(__file__).resolve().parents[1]
for _path in (str(_TESTS.parent), str(_TESTS)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from dsar import files  # noqa: E402
from dsar.files import image_checks, storage  # noqa: E402
from dsar.files import (  # noqa: E402
    ACCEPTED_TYPES,
    FileDecryptionError,
    FileStore,
    RejectedFile,
    display_name,
    generate_key,
    inspect_upload,
)
from hostile_files import (  # noqa: E402
    CORPUS_MAX_BYTES,
    hostile_corpus,
    huge_page_pdf,
    tolerated_corpus,
    valid_jpeg,
    valid_pdf,
    valid_png,
)

HOSTILE = hostile_corpus()
TOLERATED = tolerated_corpus()


def inspect(content: bytes, *, filename="upload", declared_type=None, max_bytes=CORPUS_MAX_BYTES, **kwargs):
    return inspect_upload(
        io.BytesIO(content), filename=filename, declared_type=declared_type, max_bytes=max_bytes, **kwargs
    )


# --------------------------------------------------------------------------
# Inspection


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.name for h in HOSTILE])
def test_a_hostile_file_is_refused_with_its_code(hostile):
    with pytest.raises(RejectedFile) as refusal:
        inspect(hostile.content, filename=hostile.filename, declared_type=hostile.declared_type)
    assert refusal.value.code == hostile.expected_error
    assert refusal.value.message.strip()
    assert isinstance(refusal.value, ValueError)


def test_the_corpus_has_every_refusal_code_and_distinct_names():
    assert len(HOSTILE) >= 18
    assert len({h.name for h in HOSTILE}) == len(HOSTILE)
    assert {h.expected_error for h in HOSTILE} == set(files._MESSAGES)


@pytest.mark.parametrize("tolerated", TOLERATED, ids=[t.name for t in TOLERATED])
def test_an_unusual_but_legitimate_file_is_accepted(tolerated):
    inspected, data = inspect(tolerated.content, filename=tolerated.filename, declared_type=tolerated.declared_type)
    assert inspected.mime == tolerated.expected_mime
    assert inspected.extension == ACCEPTED_TYPES[tolerated.expected_mime]
    assert data == tolerated.content


@pytest.mark.parametrize(
    "make, mime, extension, pages, width, height",
    [
        (valid_pdf, "application/pdf", ".pdf", 1, None, None),
        (valid_jpeg, "image/jpeg", ".jpg", None, 160, 100),
        (valid_png, "image/png", ".png", None, 160, 100),
    ],
    ids=["pdf", "jpeg", "png"],
)
def test_a_valid_file_is_accepted_with_facts_from_its_content(make, mime, extension, pages, width, height):
    content = make()
    inspected, data = inspect(content, filename="scan", declared_type=mime)
    assert data == content
    assert inspected.mime == mime
    assert inspected.extension == extension
    assert inspected.size == len(content)
    assert inspected.sha256 == hashlib.sha256(content).hexdigest()
    assert (inspected.pages, inspected.width, inspected.height) == (pages, width, height)


def test_a_png_named_and_declared_as_pdf_is_a_png():
    inspected, _ = inspect(valid_png(), filename="photo.pdf", declared_type="application/pdf")
    assert inspected.mime == "image/png"
    assert inspected.extension == ".png"


class _GuardedStream(io.RawIOBase):
    """A body of `size` bytes that fails the test if more than `allowed` are asked for."""

    def __init__(self, content: bytes, allowed: int, chunk: int | None = None):
        self.content, self.allowed, self.chunk, self.position = content, allowed, chunk, 0

    def read(self, size=-1):
        if size is None or size < 0 or self.position + size > self.allowed:
            raise AssertionError(f"asked for {size} bytes at {self.position}, beyond {self.allowed}")
        if self.chunk:
            size = min(size, self.chunk)
        data = self.content[self.position : self.position + size]
        self.position += len(data)
        return data


def test_an_oversized_body_is_refused_without_being_read_whole():
    max_bytes = 4096
    body = valid_pdf() + b" " * (100 * max_bytes)
    stream = _GuardedStream(body, allowed=max_bytes + 1)
    with pytest.raises(RejectedFile) as refusal:
        inspect_upload(stream, filename="a.pdf", declared_type="application/pdf", max_bytes=max_bytes)
    assert refusal.value.code == "too_large"
    assert stream.position == max_bytes + 1


def test_a_file_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not():
    content = valid_pdf()
    inspected, _ = inspect(content, max_bytes=len(content))
    assert inspected.size == len(content)
    with pytest.raises(RejectedFile, match="too_large"):
        inspect(content, max_bytes=len(content) - 1)


def test_short_reads_are_gathered_into_the_whole_file():
    content = valid_jpeg()
    stream = _GuardedStream(content, allowed=len(content) + 1, chunk=100)
    inspected, data = inspect_upload(stream, filename=None, declared_type=None, max_bytes=len(content))
    assert data == content
    assert inspected.mime == "image/jpeg"


def test_the_pixel_limit_counts_the_declared_dimensions(monkeypatch):
    monkeypatch.setattr(image_checks, "MAX_PIXELS", 160 * 100)
    inspect(valid_png())
    inspect(valid_jpeg())
    monkeypatch.setattr(image_checks, "MAX_PIXELS", 160 * 100 - 1)
    for content in (valid_png(), valid_jpeg()):
        with pytest.raises(RejectedFile) as refusal:
            inspect(content)
        assert refusal.value.code == "too_many_pixels"


@pytest.mark.parametrize("width, height, user_unit, accepted", [
    (842, 1191, None, True),        # A3 portrait
    (1191, 842, None, True),        # A3 landscape
    (792, 1224, None, True),        # US Tabloid, a little taller than A3
    (595, 842, 1.4, True),          # A4 at /UserUnit 1.4 is about A3
    (595, 842, 2, False),           # A4 at /UserUnit 2 is A2
    (900, 1300, None, False),       # just past the margin
    (14_400, 14_400, None, False),  # issue 12's hostile page
    (200, 5000, None, False),       # a ribbon: each side counts, not only the area
])
def test_pages_larger_than_a3_are_refused_counting_user_unit(width, height, user_unit, accepted):
    """Issue 12 item 1: no identity document is larger than A3; the size read is the one a viewer draws."""
    data = huge_page_pdf(width, height, pages=1, user_unit=user_unit)
    if accepted:
        assert inspect(data)[0].pages == 1
    else:
        with pytest.raises(RejectedFile) as refusal:
            inspect(data)
        assert refusal.value.code == "page_too_large"


def test_a_caller_can_narrow_the_accepted_types():
    accepted = {"application/pdf": ".pdf"}
    inspect(valid_pdf(), accepted=accepted)
    with pytest.raises(RejectedFile) as refusal:
        inspect(valid_png(), accepted=accepted)
    assert refusal.value.code == "type_not_accepted"
    assert refusal.value.detected_type == "image/png"


def test_accepting_a_type_that_has_no_checker_is_a_programming_error():
    with pytest.raises(ValueError) as error:
        inspect(b"hello\n", accepted={"text/plain": ".txt"})
    assert not isinstance(error.value, RejectedFile)


@pytest.mark.parametrize(
    "filename, shown",
    [
        ("C:\\Users\\jean\\Documents\\cni recto.pdf", "cni recto.pdf"),
        ("../../etc/passwd", "passwd"),
        ("photo\u202egpj.exe", "photogpj.exe"),  # right-to-left override removed
        ("scan\x00\r\n.png", "scan.png"),
        ("", "document"),
        (None, "document"),
        ("...", "document"),
        ("a" * 300 + ".pdf", "a" * 96 + ".pdf"),
    ],
)
def test_a_user_file_name_is_made_safe_to_display(filename, shown):
    assert display_name(filename) == shown


# --------------------------------------------------------------------------
# Encrypted storage


@pytest.fixture
def key():
    return generate_key()


@pytest.fixture
def store(tmp_path, key):
    return FileStore(tmp_path / "files", [key])


def test_a_stored_file_reads_back_under_a_random_name(store, tmp_path):
    content = valid_pdf()
    name = store.put(content)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", name)
    assert store.put(content) != name
    assert store.exists(name)
    assert store.get(name) == content
    assert (tmp_path / "files" / name[:2] / name[2:4] / name).is_file()


def test_no_plaintext_reaches_the_disk(store, tmp_path):
    secret = b"Carte nationale d'identite de Jean Dupont, ne le 01/03/1980 " * 20
    store.put(secret)
    on_disk = [p for p in (tmp_path / "files").rglob("*") if p.is_file()]
    assert len(on_disk) == 1  # and no temporary file left behind
    ciphertext = on_disk[0].read_bytes()
    assert b"Jean Dupont" not in ciphertext
    assert secret[:16] not in ciphertext


def test_stored_files_and_their_folders_are_private_whatever_the_umask(tmp_path, key):
    previous = os.umask(0)
    try:
        store = FileStore(tmp_path / "files", [key])
        name = store.put(b"x")
    finally:
        os.umask(previous)
    path = tmp_path / "files" / name[:2] / name[2:4] / name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (tmp_path / "files", path.parent, path.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_key_rotation(tmp_path):
    old_key, new_key = generate_key(), generate_key()
    root = tmp_path / "files"
    name = FileStore(root, [old_key]).put(b"passport scan")

    rotating = FileStore(root, [new_key, old_key])
    assert rotating.get(name) == b"passport scan"  # the old key still decrypts
    assert rotating.rotate(name) is True
    assert rotating.rotate(name) is False  # already under the current key

    assert FileStore(root, [new_key]).get(name) == b"passport scan"
    with pytest.raises(FileDecryptionError):
        FileStore(root, [old_key]).get(name)


def test_rotate_all_counts_the_files_it_re_encrypted(tmp_path):
    old_key, new_key = generate_key(), generate_key()
    root = tmp_path / "files"
    old_store = FileStore(root, [old_key])
    names = [old_store.put(bytes([i]) * 10) for i in range(3)]
    new_store = FileStore(root, [new_key, old_key])
    new_store.put(b"already under the new key")

    assert new_store.rotate_all() == 3
    assert new_store.rotate_all() == 0
    only_new = FileStore(root, [new_key])
    assert [only_new.get(name) for name in names] == [bytes([i]) * 10 for i in range(3)]


def test_a_rotation_never_brings_back_a_file_deleted_meanwhile(tmp_path, monkeypatch):
    old_key, new_key = generate_key(), generate_key()
    root = tmp_path / "files"
    name = FileStore(root, [old_key]).put(b"identity document")
    store = FileStore(root, [new_key, old_key])
    path = root / name[:2] / name[2:4] / name

    # The test holds the file's lock, as a delete would; the rotation opens
    # the file and waits; the file is then deleted and the lock released.
    real_flock = storage.fcntl.flock
    rotation_opened_the_file = threading.Event()

    def flock(fd, operation):
        rotation_opened_the_file.set()
        real_flock(fd, operation)

    held = open(path, "rb")
    real_flock(held.fileno(), storage.fcntl.LOCK_EX)
    monkeypatch.setattr(storage.fcntl, "flock", flock)
    outcome = {}
    rotation = threading.Thread(target=lambda: outcome.update(rotated=store.rotate(name)))
    rotation.start()
    assert rotation_opened_the_file.wait(5)
    path.unlink()
    held.close()
    rotation.join(5)

    assert outcome == {"rotated": False}
    assert not path.exists()


def test_delete(store):
    name = store.put(b"to be erased")
    assert store.delete(name) is True
    assert not store.exists(name)
    assert store.delete(name) is False
    with pytest.raises(FileNotFoundError):
        store.get(name)


def test_an_unknown_name_is_not_found(store):
    with pytest.raises(FileNotFoundError):
        store.get("A" * 43)
    assert not store.exists("A" * 43)


@pytest.mark.parametrize(
    "name",
    [
        "../etc/passwd",
        "",
        "A" * 42,
        "A" * 44,
        "A" * 1000,
        "../" + "A" * 40,
        "AA/" + "A" * 40,
        "A" * 42 + ".",
        "A" * 43 + "\n",
        "A" * 42 + "é",
        None,
    ],
    ids=["traversal", "empty", "too_short", "too_long", "much_too_long", "dotdot_of_right_length",
         "slash", "dot", "newline", "non_ascii", "none"],
)
def test_a_malformed_name_is_refused_before_touching_the_disk(store, name):
    for operation in (store.get, store.exists, store.delete, store.rotate):
        with pytest.raises(ValueError, match="invalid storage name"):
            operation(name)


@pytest.mark.parametrize("keys", [[], "a-single-string-not-a-list", ["not a fernet key"]])
def test_a_store_needs_well_formed_keys(tmp_path, keys):
    with pytest.raises(ValueError):
        FileStore(tmp_path, keys)


def test_generated_keys_are_distinct_fernet_keys():
    first, second = generate_key(), generate_key()
    assert first != second
    assert Fernet(first).decrypt(Fernet(first).encrypt(b"x")) == b"x"


def test_damaged_images_are_refused_even_after_weasyprint_relaxed_pillow():
    """WeasyPrint turns Pillow's LOAD_TRUNCATED_IMAGES on for the whole process when imported."""
    import weasyprint  # noqa: F401 - the import is the point
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    damaged = [f for f in hostile_corpus() if f.name in {"jpeg_missing_table", "png_bad_pixel_data", "jpeg_truncated"}]
    assert len(damaged) >= 2
    for f in damaged:
        with pytest.raises(RejectedFile):
            inspect_upload(io.BytesIO(f.content), filename=f.filename, declared_type=f.declared_type, max_bytes=10 * 1024 * 1024)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True   # WeasyPrint's setting is given back
