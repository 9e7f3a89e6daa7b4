"""Print batches: the letters waiting for the print shop, and what leaves with them.

A reminder letter is "sent" when the letter channel puts its PDF in the open batch; the batch
reaches the customer days later, when staff download it for the print shop. A customer who
paid in between must not receive it: before a batch is downloaded or closed, every reminder
letter whose invoices were all settled is taken out (status "withdrawn", files removed), the
same rule the delivery job applies to messages still in the outbox
(app.dunning.services.reminder_is_moot).
"""
from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path

from app.core.spreadsheets import csv_writer
from app.dunning.services import reminder_is_moot
from app.notifications.models import PrintBatch

log = logging.getLogger(__name__)
WITHDRAWN_REASON = "every invoice it reminds was settled before the batch went to print"


def withdraw_settled_letters(batch: PrintBatch) -> int:
    """Take the moot reminder letters out of an open batch; returns how many. Caller commits."""
    if batch.status != "open":
        return 0
    folder = Path(batch.folder)
    withdrawn = 0
    for message in list(batch.messages):
        if not reminder_is_moot(message.event, message.idempotency_key, message.customer_id):
            continue
        message.status, message.error = "withdrawn", WITHDRAWN_REASON
        message.sent_at, message.print_batch = None, None
        for path in [folder / f"{message.id:08d}.pdf",
                     *folder.glob(f"{message.id:08d}-enclosure-*.pdf")]:
            path.unlink(missing_ok=True)
        log.info("letter %s withdrawn from print batch %s: its invoices were settled",
                 message.id, batch.name)
        withdrawn += 1
    return withdrawn


def batch_zip(batch: PrintBatch) -> bytes:
    """Every letter PDF of the batch, the invoices to enclose, and a manifest for the shop."""
    folder = Path(batch.folder)
    buffer = io.BytesIO()
    manifest = io.StringIO()
    writer = csv_writer(manifest, delimiter=";")  # addresses are customer text
    writer.writerow(["file", "message", "customer", "language", "address"])
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for message in sorted(batch.messages, key=lambda m: m.id):
            name = f"{message.id:08d}.pdf"
            path = folder / name
            if not path.is_file():
                continue
            archive.write(path, name)
            for enclosure in sorted(folder.glob(f"{message.id:08d}-enclosure-*.pdf")):
                archive.write(enclosure, enclosure.name)
            writer.writerow([name, message.id, message.customer.number if message.customer
                             else "", message.language, message.recipient.replace("\n", ", ")])
        archive.writestr("manifest.csv", manifest.getvalue())
    return buffer.getvalue()
