"""One place for uploaded and generated files: dispute attachments, the ERP's invoice PDFs,
CSV uploads waiting for their import, letters of the print batches.

Code asks ``storage()`` for the app's file store and reads and writes *keys* (relative POSIX
paths such as ``requests/12/3f…a1.pdf``), never paths on the local disk: so a file one host
stored is there for every other web or worker host of the same deployment.

The backend is chosen by STORAGE_URL (config.py):

* unset or empty: the local folder UPLOAD_DIR (by default instance/uploads) — the embedded
  default, and the same keys the files were written under before the file store existed, so
  existing files are read as they are;
* ``file:///srv/creditdesk/files`` (or a plain absolute path): a local folder, e.g. a shared
  NFS or SMB mount that every host mounts at the same place;
* ``s3://bucket/optional/prefix?endpoint=http://objectstore:9000&region=eu-west-1``: an
  S3-compatible object store (AWS S3, MinIO, Ceph RGW, Garage, …), through boto3 (the optional
  extra ``creditdesk[s3]``); the credentials come from the usual AWS variables
  (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) or the host's role, never from the URL.

Files are always served through the app, after its own permission checks (staff roles, the
customer owning the request): no bucket URL is ever handed to a browser.

A store that cannot be reached raises StorageUnavailable, a ValidationError with a translated
message: a form shows it where it shows other errors and changes nothing, and any other page
answers 503 with the message (init_app's error handler), after rolling the session back.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from flask import Flask, current_app
from flask_babel import gettext as _

from app.core.validation import ValidationError

EXTENSION_KEY = "creditdesk_storage"
# A key: relative and "/"-separated; no part empty, "." or "..", no backslash or control
# character: nothing a key holds can leave the store's folder or prefix. Keys we make are plain
# (letters, digits, "._-"); older letter enclosures may hold the invoice number's spaces.
_PART = re.compile(r"^[^/\\\x00-\x1f\x7f]{1,255}$")


class StorageUnavailable(ValidationError):
    """The file store could not be reached or refused the operation; nothing was changed."""

    def __init__(self, operation: str, key: str, cause: BaseException | str | None = None,
                 field: str = "file"):
        self.operation, self.key, self.cause = operation, key, cause
        writing = operation in ("put", "delete")
        self.message = (_("The file store cannot be reached right now, so nothing was saved. "
                          "Please try again in a few minutes.") if writing else
                        _("The file store cannot be reached right now. Please try again in a "
                          "few minutes."))
        super().__init__({field: self.message})

    def for_field(self, field: str) -> StorageUnavailable:
        """The same failure, reported on a form's own field."""
        return StorageUnavailable(self.operation, self.key, self.cause, field=field)

    def __str__(self) -> str:  # for logs: what failed and why, in English
        return f"file store {self.operation} {self.key!r} failed: {self.cause}"


class BadKey(ValueError):
    """A key that is not one of ours (a path with "..", an absolute path, odd characters)."""


def check_key(key: str) -> str:
    parts = str(key).split("/")
    if not key or len(key) > 1024 or any(not _PART.match(part) or part in (".", "..")
                                         for part in parts):
        raise BadKey(key)
    return key


def is_key(key: str | None) -> bool:
    try:
        check_key(key or "")
    except BadKey:
        return False
    return True


@dataclass(frozen=True)
class StoredFile:
    key: str
    size: int
    modified: datetime  # UTC


class FileStore(Protocol):
    """What every backend does. Keys are checked with check_key (BadKey otherwise)."""

    def put(self, key: str, data: bytes) -> None:
        """Store the whole file under the key (replacing one there): a reader sees the old
        file or the new one, never part of it."""

    def get(self, key: str) -> bytes | None:
        """The file's bytes, or None when there is no such file."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the file; a missing file is not an error."""

    def list(self, prefix: str) -> list[StoredFile]:
        """The files whose key starts with ``prefix`` (plain string prefix, as in S3)."""

    def check(self) -> None:
        """Raise StorageUnavailable unless the store can be written and read now."""

    def describe(self) -> str:
        """Where the files are, for operators (no secrets)."""


def storage(app: Flask | None = None) -> FileStore:
    """The file store of this app (current_app by default)."""
    app = app or current_app
    store = app.extensions.get(EXTENSION_KEY)
    if store is None:  # an app built without init_app (a script): build it on first use
        store = app.extensions[EXTENSION_KEY] = from_config(app.config)
    return store


def from_config(config) -> FileStore:
    return from_url(config.get("STORAGE_URL") or "", default_dir=config.get("UPLOAD_DIR"))


def from_url(url: str, default_dir: str | None = None) -> FileStore:
    """The backend a STORAGE_URL names (ValueError, saying why, for one we cannot use)."""
    from app.core.storage.local import LocalStore

    url = (url or "").strip()
    if not url:
        if not default_dir:
            raise ValueError("STORAGE_URL is empty and there is no UPLOAD_DIR")
        return LocalStore(default_dir)
    if url.startswith("/"):
        return LocalStore(url)
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError("STORAGE_URL: a file URL names an absolute local folder, "
                             "e.g. file:///srv/creditdesk/files")
        return LocalStore(unquote(parts.path))
    if parts.scheme == "s3":
        from app.core.storage.s3 import S3Store

        if parts.username or parts.password:
            raise ValueError("STORAGE_URL: put the object store's keys in AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY, not in the URL")
        options = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        unknown = set(options) - S3Store.OPTIONS
        if unknown:
            raise ValueError(f"STORAGE_URL: unknown option(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(S3Store.OPTIONS))}")
        if not parts.hostname:
            raise ValueError("STORAGE_URL: s3://<bucket>[/prefix] names a bucket")
        return S3Store(bucket=parts.netloc, prefix=parts.path.strip("/"), **options)
    raise ValueError(f"STORAGE_URL: unknown kind of store {parts.scheme!r}: use file:///folder "
                     "or s3://bucket/prefix")


def init_app(app: Flask) -> None:
    """The app's file store from its config (a wrong STORAGE_URL stops the start, saying why),
    the 503 answer for a store that cannot be reached, and the `flask storage` commands."""
    app.extensions[EXTENSION_KEY] = from_config(app.config)
    app.register_error_handler(StorageUnavailable, _unavailable)
    from app.core.storage.cli import storage_cli

    app.cli.add_command(storage_cli)


def _unavailable(error: StorageUnavailable):
    """A page that needed a file the store cannot give now: 503 with the message, nothing
    changed (the session is rolled back)."""
    import logging

    from app.core.web_security import _refused, is_portal_request, portal_refused
    from app.extensions import db

    logging.getLogger(__name__).warning("%s", error)
    db.session.rollback()
    if is_portal_request():
        return portal_refused(error.message, 503)
    return _refused(error.message, 503)
