"""Drawing a letter (reportlab) and filing it into the open print batch."""
from __future__ import annotations

import io
import re
from pathlib import Path

from flask_babel import force_locale
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.i18n import day, language_locale
from app.core.settings import company_details
from app.core.time import business_today
from app.extensions import db
from app.invoices.pdf import STYLES, _markup
from app.notifications.models import Message, PrintBatch
from app.notifications.print_batches import (
    STORE_FOLDER,
    batch_files,
    enclosure_prefix,
    letter_name,
)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class LetterChannel:
    def __init__(self, settings: dict) -> None:
        # Staff may name a local folder (an explicit choice, e.g. one the print shop's own
        # transfer reads); otherwise letters go to the file store that every host shares.
        folder = (settings.get("folder") or "").strip()
        self.root = str(Path(folder).resolve()) if folder else STORE_FOLDER

    def is_configured(self) -> bool:
        return True

    def send(self, message: Message) -> str:
        from plugins.email_smtp.channel import invoice_attachments

        batch = open_batch(self.root)
        store, prefix = batch_files(batch)
        # Each file is stored whole or not at all; a retry overwrites the same names, so a
        # letter is never in the batch twice.
        store.put(prefix + letter_name(message.id), letter_pdf(message))
        for file_name, data in invoice_attachments(message):
            safe = _UNSAFE.sub("-", file_name).strip("-.") or "invoice.pdf"
            store.put(prefix + enclosure_prefix(message.id) + safe, data)
        message.print_batch_id = batch.id
        return f"print-batch:{batch.name}/{letter_name(message.id)}"

    def close(self) -> None:
        pass


def open_batch(root: str) -> PrintBatch:
    """The batch collecting letters now (a new one after staff closed the last)."""
    batch = db.session.scalar(select(PrintBatch).where(PrintBatch.status == "open")
                              .order_by(PrintBatch.id).limit(1))
    if batch is not None:
        return batch
    today = business_today().isoformat()
    count = db.session.query(PrintBatch).filter(PrintBatch.name.like(f"{today}%")).count()
    name = today if count == 0 else f"{today}-{count + 1}"
    batch = PrintBatch(name=name, status="open", folder=f"{root}/{name}")
    try:
        with db.session.begin_nested():
            db.session.add(batch)
    except IntegrityError:  # another worker opened it at the same moment: use theirs
        batch = db.session.scalar(select(PrintBatch).where(PrintBatch.name == name))
    return batch


def letter_pdf(message: Message) -> bytes:
    """An A4 letter: sender, window address, date, subject and the rendered text."""
    company = company_details()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm,
                                 topMargin=18 * mm, bottomMargin=18 * mm,
                                 title=message.subject or "", author=company.get("name") or "")
    sender = "\n".join(filter(None, [company.get("name"), company.get("address"),
                                     company.get("phone"), company.get("email")]))
    with force_locale(language_locale(message.language)):
        today = day(message.created_at or business_today(), "long")
    head = Table([[Paragraph(_markup(sender), STYLES["small"]), ""],
                  ["", Paragraph(_markup(message.recipient), STYLES["customer"])]],
                 colWidths=[95 * mm, 75 * mm], rowHeights=[32 * mm, 30 * mm])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                              ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story = [head, Spacer(1, 6 * mm), Paragraph(_markup(today), STYLES["right"]),
             Spacer(1, 6 * mm)]
    if message.subject:
        story += [Paragraph(_markup(message.subject), STYLES["heading"]), Spacer(1, 5 * mm)]
    for block in (message.body_text or "").strip().split("\n\n"):
        story += [Paragraph(_markup(block.strip()), STYLES["customer"]), Spacer(1, 3 * mm)]
    document.build(story)
    return buffer.getvalue()
