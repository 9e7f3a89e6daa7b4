"""Print batches: the letters waiting for the print shop, and what leaves with them.

A reminder letter is "sent" when the letter channel puts its PDF in the open batch; the batch
reaches the customer days later, when staff download it for the print shop. A customer who
paid in between must not receive it: before a batch is downloaded or closed, every reminder
letter whose invoices were all settled is taken out (status "withdrawn", files removed), the
same checks the delivery job applies to messages still in the outbox
(app.notifications.withdrawal; the reminders' own: app.dunning.services.reminder_is_moot).

A batch's letters are files in the app's file store under ``letters/<batch name>/`` (the
batch's ``folder``), so the worker host that printed a letter and the web host that zips the
batch need not be the same. A batch whose folder is an absolute path — opened before the file
store existed, or with the letter plugin's own folder set — keeps its files in that local
folder, read and written as before.
"""
from __future__ import annotations

import io
import logging
import os
import zipfile

from app.core.locking import lock
from app.core.models import utcnow
from app.core.spreadsheets import csv_writer
from app.core.storage import FileStore, storage
from app.core.storage.cli import register_local_mover
from app.core.storage.local import LocalStore
from app.notifications.models import PrintBatch
from app.notifications.withdrawal import is_moot

log = logging.getLogger(__name__)
WITHDRAWN_REASON = "every invoice it reminds was settled before the batch went to print"
STORE_FOLDER = "letters"


def batch_files(batch: PrintBatch) -> tuple[FileStore, str]:
    """(store, key prefix ending in "/") holding the batch's letters."""
    if os.path.isabs(batch.folder):
        return LocalStore(batch.folder, file_mode=None), ""  # as letters were written there
    return storage(), batch.folder.rstrip("/") + "/"


def letter_name(message_id: int) -> str:
    return f"{message_id:08d}.pdf"


def enclosure_prefix(message_id: int) -> str:
    return f"{message_id:08d}-enclosure-"


def withdraw_settled_letters(batch: PrintBatch) -> int:
    """Take the moot reminder letters out of an open batch; returns how many. Caller commits."""
    if batch.status != "open":
        return 0
    store, prefix = batch_files(batch)
    withdrawn = 0
    for message in list(batch.messages):
        if not is_moot(message.event, message.idempotency_key, message.customer_id):
            continue
        message.status, message.error = "withdrawn", WITHDRAWN_REASON
        message.sent_at, message.print_batch = None, None
        for found in store.list(prefix + enclosure_prefix(message.id)):
            store.delete(found.key)
        store.delete(prefix + letter_name(message.id))
        log.info("letter %s withdrawn from print batch %s: its invoices were settled",
                 message.id, batch.name)
        withdrawn += 1
    return withdrawn


def close_batch(batch: PrintBatch) -> int | None:
    """The batch went to the print shop: its moot letters are taken out first, then it is
    closed (with the time) and new letters go into a new batch. Returns how many letters were
    withdrawn, or None when the batch was no longer open (closed by someone else meanwhile:
    nothing changes). The batch is locked, so two people closing it at once close it once.
    Caller commits."""
    lock(batch)
    if batch.status != "open":
        return None
    withdrawn = withdraw_settled_letters(batch)
    batch.status = "closed"
    batch.closed_at = utcnow()
    return withdrawn


def batch_zip(batch: PrintBatch) -> bytes:
    """Every letter PDF of the batch, the invoices to enclose, and a manifest for the shop."""
    store, prefix = batch_files(batch)
    buffer = io.BytesIO()
    manifest = io.StringIO()
    writer = csv_writer(manifest, delimiter=";")  # addresses are customer text
    writer.writerow(["file", "message", "customer", "language", "address"])
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for message in sorted(batch.messages, key=lambda m: m.id):
            name = letter_name(message.id)
            letter = store.get(prefix + name)
            if letter is None:
                continue
            archive.writestr(name, letter)
            for enclosure in store.list(prefix + enclosure_prefix(message.id)):
                data = store.get(enclosure.key)
                if data is not None:
                    archive.writestr(enclosure.key[len(prefix):], data)
            writer.writerow([name, message.id, message.customer.number if message.customer
                             else "", message.language, message.recipient.replace("\n", ", ")])
        archive.writestr("manifest.csv", manifest.getvalue())
    return buffer.getvalue()


def move_local_batches_into_store() -> int:
    """Print batches still in a local folder of this host (opened before the file store, the
    plugin's default folder): their letters copied into the store under letters/<name>/ and
    the batch pointed there, so that every host writes and reads it. Returns how many.
    A batch whose folder is not on this host is left as it is. Commits per batch."""
    from sqlalchemy import select

    from app.extensions import db

    moved = 0
    for batch in db.session.scalars(select(PrintBatch).order_by(PrintBatch.id)):
        if not os.path.isabs(batch.folder) or not os.path.isdir(batch.folder):
            continue
        old, _none = batch_files(batch)
        prefix = f"{STORE_FOLDER}/{batch.name}/"
        for found in old.list(""):
            data = old.get(found.key)
            if data is not None:
                storage().put(prefix + found.key, data)
        batch.folder = prefix.rstrip("/")
        db.session.commit()
        moved += 1
    return moved


# `flask storage copy-local` moves them too (core.storage.cli cannot import this module).
register_local_mover("print batch(es)", move_local_batches_into_store)
