"""Answer files may be JSON, CSV and ZIP as well as PDF and images, each checked by its content (issue 16)."""
from __future__ import annotations

import io
import zipfile

import pytest

from dsar.files import ACCEPTED_TYPES, ANSWER_TYPES, RejectedFile, inspect_upload


def _inspect(data: bytes, accepted=ANSWER_TYPES):
    return inspect_upload(io.BytesIO(data), filename="x", declared_type=None, max_bytes=10_000_000, accepted=accepted)[0]


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_json_csv_and_zip_are_recognised_by_content():
    assert _inspect(b'[{"a": 1}]').mime == "application/json"
    assert _inspect(b"a,b\n1,2\n").mime == "text/csv"
    assert _inspect(_zip({"data.json": b"[]"})).mime == "application/zip"


def test_identity_uploads_still_refuse_them():
    with pytest.raises(RejectedFile) as exc:
        _inspect(b'[{"a": 1}]', accepted=ACCEPTED_TYPES)
    assert exc.value.code == "type_not_accepted"


@pytest.mark.parametrize("data", [b'{"a": ', b"a,b\n1,2,3\n4\n", b"\xff\xfe\x00garbage,\n"])
def test_broken_json_or_csv_is_refused(data):
    with pytest.raises(RejectedFile):
        _inspect(data)


def test_a_zip_with_a_path_out_of_the_archive_is_refused():
    with pytest.raises(RejectedFile) as exc:
        _inspect(_zip({"../../etc/passwd": b"x"}))
    assert exc.value.code == "active_content"


def test_a_zip_bomb_is_refused():
    with pytest.raises(RejectedFile) as exc:
        _inspect(_zip({"big.txt": b"0" * 5_000_000}))
    assert exc.value.code == "active_content"


def test_a_corrupt_zip_is_refused():
    data = bytearray(_zip({"a.txt": b"hello world" * 10}, compression=zipfile.ZIP_STORED))
    pos = data.find(b"hello")
    data[pos:pos + 5] = b"HELLO"
    with pytest.raises(RejectedFile) as exc:
        _inspect(bytes(data))
    assert exc.value.code == "corrupt"
