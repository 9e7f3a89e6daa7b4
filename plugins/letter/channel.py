"""Drawing a letter (reportlab) and filing it into the open print batch."""
from __future__ import annotations

import io
import os
from pathlib import Path

from flask import current_app
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


class LetterChannel:
    def __init__(self, settings: dict) -> None:
        root = settings.get("folder") or os.path.join(current_app.config["INSTANCE_DIR"],
                                                      "letters")
        self.root = Path(root)

    def is_configured(self) -> bool:
        return True

    def send(self, message: Message) -> str:
        from plugins.email_smtp.channel import invoice_attachments

        batch = open_batch(self.root)
        folder = Path(batch.folder)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{message.id:08d}.pdf"
        _write(folder / name, letter_pdf(message))
        for file_name, data in invoice_attachments(message):
            _write(folder / f"{message.id:08d}-enclosure-{file_name}", data)
        message.print_batch_id = batch.id
        return f"print-batch:{batch.name}/{name}"

    def close(self) -> None:
        pass


def _write(path: Path, data: bytes) -> None:
    """Whole file or nothing: a worker killed mid-write leaves no half letter in the batch."""
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(data)
    os.replace(partial, path)


def open_batch(root: Path) -> PrintBatch:
    """The batch collecting letters now (a new one after staff closed the last)."""
    batch = db.session.scalar(select(PrintBatch).where(PrintBatch.status == "open")
                              .order_by(PrintBatch.id).limit(1))
    if batch is not None:
        return batch
    today = business_today().isoformat()
    count = db.session.query(PrintBatch).filter(PrintBatch.name.like(f"{today}%")).count()
    name = today if count == 0 else f"{today}-{count + 1}"
    batch = PrintBatch(name=name, status="open", folder=str(root / name))
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
