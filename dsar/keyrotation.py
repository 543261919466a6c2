"""Key rotation: re-encrypt everything stored under ``DSAR_FILE_KEYS`` with the first key (``dsar rotate-keys``).

The keys are a list: the first encrypts, every key decrypts. To retire a key, put a new one first
(``DSAR_FILE_KEYS=new,old``), restart every process, run ``dsar rotate-keys``, check with
``dsar rotate-keys --verify``, then remove the old key (README, "Rotating the file keys").

What is encrypted registers itself, so that a rotation cannot forget it:

- a column holding ``encrypt_secret()`` tokens is declared with ``info=ENCRYPTED_COLUMN`` (dsar/security.py);
  every column so marked in the models is a source;
- the encrypted file store (``DSAR_FILES_DIR``) is a source: every file in it, whatever table names it;
- anything else encrypted with the file keys calls :func:`register_source` at import time.

Each source rewrites, in batches committed one by one, only what the first key cannot read yet, and a row is
rewritten only if it still holds the token that was read (a concurrent change wins). An interrupted rotation is
resumed by running the command again. This is an operator's command: it commits, as the CLI does.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from .extensions import db
from .files.storage import FileDecryptionError, file_store
from .security import ENCRYPTED_COLUMN

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """Something encrypted with the file keys. ``rotate(batch_size)`` re-encrypts what the first key cannot read and
    returns how many items it rewrote; ``pending()`` counts the items the first key alone cannot read."""

    name: str
    rotate: Callable[[int], int]
    pending: Callable[[], int]


_extra_sources: list[Callable[[], Source]] = []


def register_source(factory: Callable[[], Source]) -> None:
    """Declare encrypted data that is neither a marked column nor a stored file; ``factory`` runs in an app context."""
    _extra_sources.append(factory)


class RotationError(RuntimeError):
    """Something cannot be decrypted with any configured key: the key that encrypted it is missing."""


def _keys() -> tuple[Fernet, MultiFernet]:
    keys = [Fernet(k) for k in current_app.config["DSAR_FILE_KEYS"]]
    return keys[0], MultiFernet(keys)


def encrypted_columns() -> list[sa.Column]:
    return [column for table in db.metadata.sorted_tables for column in table.columns
            if column.info.get(next(iter(ENCRYPTED_COLUMN)))]


def _readable(fernet: Fernet, token: str) -> bool:
    try:
        fernet.decrypt(token.encode())
        return True
    except InvalidToken:
        return False


def _column_source(column: sa.Column) -> Source:
    table = column.table
    (pk,) = table.primary_key.columns
    name = f"{table.name}.{column.name}"

    def rows(after, limit):
        query = sa.select(pk, column).where(column.is_not(None)).order_by(pk).limit(limit)
        if after is not None:
            query = query.where(pk > after)
        return db.session.execute(query).all()

    def rotate(batch_size: int) -> int:
        current, every = _keys()
        rewritten, after = 0, None
        while batch := rows(after, batch_size):
            for row_id, token in batch:
                if _readable(current, token):
                    continue
                try:
                    new = every.rotate(token.encode()).decode()
                except InvalidToken as exc:
                    raise RotationError(f"{name} of row {row_id} cannot be decrypted with any key of DSAR_FILE_KEYS") from exc
                rewritten += db.session.execute(
                    sa.update(table).where(pk == row_id, column == token).values({column.name: new})
                ).rowcount
            db.session.commit()          # a batch at a time: an interruption keeps what is done
            after = batch[-1][0]
        return rewritten

    def pending() -> int:
        current, _ = _keys()
        count, after = 0, None
        while batch := rows(after, 1000):
            count += sum(1 for _, token in batch if not _readable(current, token))
            after = batch[-1][0]
        db.session.rollback()
        return count

    return Source(name, rotate, pending)


def _file_source() -> Source:
    def rotate(batch_size: int) -> int:
        try:
            return file_store().rotate_all()      # file by file, each replaced atomically: resumable as it is
        except FileDecryptionError as exc:
            raise RotationError(f"{exc}: with no key of DSAR_FILE_KEYS") from exc

    def pending() -> int:
        store = file_store()
        current, _ = _keys()
        return sum(1 for path in store.stored_paths() if not _readable(current, path.read_bytes().decode()))

    return Source("files", rotate, pending)


def sources() -> list[Source]:
    return [_file_source(), *(_column_source(c) for c in encrypted_columns()), *(f() for f in _extra_sources)]


def rotate_keys(batch_size: int = 500, only: str | None = None) -> dict[str, int]:
    """Re-encrypt every source (or the one named) under the first key; how many items each rewrote."""
    done = {}
    for source in sources():
        if only in (None, source.name):
            done[source.name] = source.rotate(batch_size)
            log.info("key rotation: %s: %d re-encrypted", source.name, done[source.name])
    return done


def not_under_first_key() -> dict[str, int]:
    """What the first key alone cannot read yet, per source (empty: the other keys can be removed)."""
    return {s.name: n for s in sources() if (n := s.pending())}
