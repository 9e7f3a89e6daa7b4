"""Files customers send with a request: checked by their content, stored outside the web root.

Only PDF, PNG and JPEG are accepted, recognised by their first bytes (the name and the type the
browser claims are not trusted), each at most ``self_service.dispute.max_file_mb``. They are
stored under the app's UPLOAD_DIR (config.py; by default instance/uploads, never under a static
folder) with a random name; the name the customer gave is only shown, cleaned (clean_file_name):
no folder, no control or bidirectional-override characters (U+202E makes "invoice<U+202E>fdp.html"
read "invoicelmth.pdf"), and the extension of what the file really is, so a PDF named "x.html" is
shown and downloaded as "x.pdf" — a browser never opens a customer's file as a page.
"""
from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Response, current_app, send_file
from flask_babel import gettext as _

from app.core.file_names import clean_file_name
from app.core.validation import ValidationError
from app.requests import self_service as ss
from app.requests.models import Attachment, CustomerRequest

# (magic bytes, content type, extension)
SIGNATURES = ((b"%PDF-", "application/pdf", "pdf"),
              (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
              (b"\xff\xd8\xff", "image/jpeg", "jpg"))
FIELD = "files"


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


def upload_root() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]).resolve()


def store(req: CustomerRequest, uploads: list[Upload]) -> list[Attachment]:
    """Write the files and add their rows (the request must have an id; the caller commits)."""
    folder = Path("requests") / str(req.id)
    target = upload_root() / folder
    target.mkdir(parents=True, exist_ok=True)
    made = []
    for upload in uploads:
        stored = folder / f"{uuid.uuid4().hex}.{upload.extension}"
        path = upload_root() / stored
        with open(path, "xb") as handle:
            handle.write(upload.data)
        os.chmod(path, 0o600)
        attachment = Attachment(request_id=req.id, file_name=upload.file_name,
                                content_type=upload.content_type, size=upload.size,
                                sha256=hashlib.sha256(upload.data).hexdigest(),
                                storage_path=stored.as_posix())
        req.attachments.append(attachment)
        made.append(attachment)
    return made


# Shown in the browser (staff preview) only for these types, and only when the stored bytes
# really are that type: anything else (HTML, SVG, ...) is always a download.
INLINE_TYPES = ("image/png", "image/jpeg", "application/pdf")


def previewable(attachment: Attachment) -> bool:
    return attachment.content_type in INLINE_TYPES


def download(attachment: Attachment, inline: bool = False) -> Response | None:
    """The file as a download that no browser renders: Content-Disposition attachment with
    the cleaned name and the real extension, the sniffed type (application/octet-stream for
    anything else), nosniff. None when the file is missing.

    ``inline``: a PNG, JPEG or PDF (checked again on the bytes served) is shown in the browser
    instead; any other file stays a download."""
    path = path_of(attachment)
    if path is None:
        return None
    known = {content_type: extension for _magic, content_type, extension in SIGNATURES}
    extension = known.get(attachment.content_type)
    if inline and attachment.content_type in INLINE_TYPES:
        with open(path, "rb") as handle:
            found = sniff(handle.read(16))
        inline = found is not None and found[0] == attachment.content_type
    else:
        inline = False
    response = send_file(path, mimetype=attachment.content_type if extension
                         else "application/octet-stream", as_attachment=not inline,
                         download_name=_display_name(attachment.file_name, extension or "bin"))
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The browser's PDF viewer does not open in a sandboxed document; an image does.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; object-src 'self'" if inline and extension == "pdf"
        else "default-src 'none'; sandbox")
    response.headers["Cache-Control"] = "private, no-store"
    return response


def path_of(attachment: Attachment) -> Path | None:
    """The file on disk, or None when it is missing or points outside the upload folder."""
    root = upload_root()
    path = (root / attachment.storage_path).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path

