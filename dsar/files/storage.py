"""Encrypted storage of uploaded files (Fernet, random names), and the store configured for the app."""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


def file_store() -> "FileStore":
    """The encrypted store configured for this app (DSAR_FILES_DIR, DSAR_FILE_KEYS: first key encrypts)."""
    return FileStore(current_app.config["DSAR_FILES_DIR"], current_app.config["DSAR_FILE_KEYS"])


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

    def stored_paths(self) -> Iterator[Path]:
        """Every stored file, in name order; not the temporary files of writes in progress."""
        return (path for path in sorted(self.root.glob("*/*/*")) if _NAME.fullmatch(path.name))

    def rotate_all(self) -> int:
        """Rotate every stored file; return how many were re-encrypted."""
        rotated = 0
        for path in self.stored_paths():
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
