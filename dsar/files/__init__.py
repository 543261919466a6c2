"""Uploaded files: inspection of what a user sends, and encrypted storage.

Identity documents and answer files are the most sensitive things the service
keeps, and every upload comes from an unauthenticated stranger. So an upload is
judged by its content only (never by its name or declared type), parsed by
strict checkers that refuse what a careful office would not open, and stored
encrypted under a random name that carries nothing from the user.

- ``inspection``: ``inspect_upload`` (libmagic, then a deep checker per type:
  ``pdf_checks``, ``image_checks``, ``answer_types``; hidden archives in
  ``archives``; refusal codes in ``rejection``), ``display_name``;
- ``storage``: the encrypted ``FileStore`` and ``file_store()``, the one this
  app is configured with.

The web layer passes a stream and turns ``RejectedFile.code`` into a translated
message and a 4xx. This package re-exports the old public names of dsar.files;
modules inside dsar import from the precise module.
"""
from .inspection import ACCEPTED_TYPES, ANSWER_TYPES, InspectedFile, display_name, inspect_upload  # noqa: F401
from .rejection import _MESSAGES, RejectedFile  # noqa: F401
from .storage import STREAM_HEADER, FileDecryptionError, FileStore, StreamWriter, file_store, generate_key  # noqa: F401
