"""Files customers send with a request: checked by their content, stored outside the web root.

Only PDF, PNG and JPEG are accepted, recognised by their first bytes (the name and the type the
browser claims are not trusted), each at most ``self_service.dispute.max_file_mb``. They are
kept in the app's file store (app.core.storage: by default instance/uploads, never a static
folder; an object store shared by every host when STORAGE_URL says so) under a random key and
served only through the app's own checks. The name the customer gave is only shown, cleaned
(clean_file_name): no folder, no control or bidirectional-override characters (U+202E makes "invoice<U+202E>fdp.html"
read "invoicelmth.pdf"), and the extension of what the file really is, so a PDF named "x.html" is
shown and downloaded as "x.pdf" — a browser never opens a customer's file as a page.
"""
from __future__ import annotations

import hashlib
import io
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Response, current_app, send_file
from flask_babel import gettext as _

from app.core.file_names import clean_file_name
from app.core.storage import StorageUnavailable, is_key, storage
from app.core.validation import ValidationError
from app.requests import self_service as ss
from app.requests.models import Attachment, CustomerRequest

# (magic bytes, content type, extension)
SIGNATURES = ((b"%PDF-", "application/pdf", "pdf"),
              (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
              (b"\xff\xd8\xff", "image/jpeg", "jpg"))
FIELD = "files"
log = logging.getLogger(__name__)


@dataclass
class Upload:
    """A checked file, not stored yet."""

    file_name: str
    content_type: str
    extension: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


def sniff(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the first bytes, or None for anything else."""
    for magic, content_type, extension in SIGNATURES:
        if data.startswith(magic):
            return content_type, extension
    return None


# Other spellings of a sniffed type's extension that a customer's name may keep.
SPELLINGS = {"jpg": ("jpeg", "jpe")}


def _display_name(name: str | None, extension: str) -> str:
    own = (name or "").rsplit(".", 1)[-1].strip().lower() if "." in (name or "") else ""
    return clean_file_name(name, own if own in SPELLINGS.get(extension, ()) else extension)


def _read(item: Any, limit: int) -> tuple[str | None, bytes]:
    """(name, bytes) from a werkzeug FileStorage or a (name, bytes) pair; reads at most
    ``limit`` + 1 bytes so that a huge upload is never held in memory whole."""
    if isinstance(item, tuple):
        name, data = item
        return name, bytes(data[:limit + 1])
    return getattr(item, "filename", None), item.stream.read(limit + 1)


def check_uploads(files: list[Any]) -> list[Upload]:
    """Every file checked, or ValidationError({"files": [...]}) naming each refused file."""
    settings = ss.rules(ss.DISPUTE_MAX_FILE_MB, ss.DISPUTE_MAX_FILES)
    max_mb, max_files = settings[ss.DISPUTE_MAX_FILE_MB], settings[ss.DISPUTE_MAX_FILES]
    limit = max_mb * 1024 * 1024
    items = [f for f in files if f is not None and (isinstance(f, tuple) or
                                                   getattr(f, "filename", None))]
    if len(items) > max_files:
        raise ValidationError({FIELD: _("Send at most %(n)s files.", n=max_files)})
    errors: list[str] = []
    checked: list[Upload] = []
    for item in items:
        name, data = _read(item, limit)
        shown = _display_name(name, "")
        if not data:
            errors.append(_("%(name)s is empty.", name=shown))
            continue
        if len(data) > limit:
            errors.append(_("%(name)s is larger than %(mb)s MB.", name=shown, mb=max_mb))
            continue
        kind = sniff(data)
        if kind is None:
            errors.append(_("%(name)s is not a PDF, PNG or JPEG file.", name=shown))
            continue
        checked.append(Upload(_display_name(name, kind[1]), kind[0], kind[1], data))
    if errors:
        raise ValidationError({FIELD: errors})
    return checked


def store(req: CustomerRequest, uploads: list[Upload]) -> list[Attachment]:
    """Store the files and add their rows (the request must have an id; the caller commits).

    All files or none: when the store fails part-way, the files already stored are removed
    again and ValidationError (StorageUnavailable) names the failure on the files field; the
    caller rolls back, so no row points at a missing file."""
    made, written = [], []
    try:
        for upload in uploads:
            key = f"requests/{req.id}/{uuid.uuid4().hex}.{upload.extension}"
            storage().put(key, upload.data)
            written.append(key)
            attachment = Attachment(request_id=req.id, file_name=upload.file_name,
                                    content_type=upload.content_type, size=upload.size,
                                    sha256=hashlib.sha256(upload.data).hexdigest(),
                                    storage_path=key)
            req.attachments.append(attachment)
            made.append(attachment)
    except StorageUnavailable as exc:
        _remove(written)
        raise exc.for_field(FIELD) from exc
    return made


def _remove(keys: list[str]) -> None:
    for key in keys:
        try:
            storage().delete(key)
        except StorageUnavailable:  # unreferenced (random key, no row): harmless if it stays
            log.warning("could not remove %s after a failed upload", key)


# Shown in the browser (staff preview) only for these types, and only when the stored bytes
# really are that type: anything else (HTML, SVG, ...) is always a download.
INLINE_TYPES = ("image/png", "image/jpeg", "application/pdf")


def previewable(attachment: Attachment) -> bool:
    return attachment.content_type in INLINE_TYPES


def download(attachment: Attachment, inline: bool = False) -> Response | None:
    """The file as a download that no browser renders: Content-Disposition attachment with
    the cleaned name and the real extension, the sniffed type (application/octet-stream for
    anything else), nosniff. None when the file is missing; StorageUnavailable (a 503 page)
    when the store cannot be reached.

    ``inline``: a PNG, JPEG or PDF (checked again on the bytes served) is shown in the browser
    instead; any other file stays a download."""
    data = content_of(attachment)
    if data is None:
        return None
    known = {content_type: extension for _magic, content_type, extension in SIGNATURES}
    extension = known.get(attachment.content_type)
    if inline and attachment.content_type in INLINE_TYPES:
        found = sniff(data[:16])
        inline = found is not None and found[0] == attachment.content_type
    else:
        inline = False
    response = send_file(io.BytesIO(data), mimetype=attachment.content_type if extension
                         else "application/octet-stream", as_attachment=not inline,
                         download_name=_display_name(attachment.file_name, extension or "bin"))
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The browser's PDF viewer does not open in a sandboxed document; an image does.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; object-src 'self'" if inline and extension == "pdf"
        else "default-src 'none'; sandbox")
    response.headers["Cache-Control"] = "private, no-store"
    return response


def upload_root() -> Path:
    """The local upload folder of the embedded default (STORAGE_URL unset)."""
    return Path(current_app.config["UPLOAD_DIR"]).resolve()


def content_of(attachment: Attachment) -> bytes | None:
    """The stored bytes, or None when the file is missing or its key is not one of ours
    (a path with "..", an absolute path: never read)."""
    if not is_key(attachment.storage_path):
        log.warning("attachment %s: storage path %r refused", attachment.id,
                    attachment.storage_path)
        return None
    return storage().get(attachment.storage_path)
