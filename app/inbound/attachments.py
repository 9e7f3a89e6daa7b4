"""Files sent with a reply: the portal uploads' checks (app/requests/attachments.py
``check_uploads``: PDF, PNG or JPEG by their first bytes, size limit), stored in the file store
every host shares (app.core.storage; never under the web root) with a random name. A refused file is recorded with the reason,
never stored; a file whose name lies about its type is kept under its real type's extension."""
from __future__ import annotations

import hashlib
import uuid

from app.core.storage import storage
from app.core.validation import ValidationError
from app.inbound.models import InboundAttachment, InboundMessage
from app.inbound.parsing import Attachment
from app.requests.attachments import check_uploads


def keep_attachments(row: InboundMessage, attachments: list[Attachment]) -> None:
    """Check and store each file (the row must have an id; the caller commits)."""
    for item in attachments:
        name = item.name or "attachment"
        try:
            [upload] = check_uploads([(name, item.data)])
        except ValidationError as exc:
            reasons = exc.errors.get("files") if isinstance(exc.errors, dict) else None
            text = reasons if isinstance(reasons, str) else "; ".join(reasons or [str(exc)])
            row.attachments.append(InboundAttachment(
                file_name=name[:200], content_type=item.content_type[:100], size=len(item.data),
                refusal=text[:300]))
            continue
        key = f"inbound/{row.id}/{uuid.uuid4().hex}.{upload.extension}"
        storage().put(key, upload.data)  # whole or nothing; StorageUnavailable when down
        row.attachments.append(InboundAttachment(
            file_name=upload.file_name[:200], content_type=upload.content_type, size=upload.size,
            sha256=hashlib.sha256(upload.data).hexdigest(), storage_path=key))
