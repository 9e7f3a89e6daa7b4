"""The human-readable copy of a credit note, embedded in its e-invoice (BT-125)."""
from __future__ import annotations

import io
from xml.sax.saxutils import escape

from flask_babel import force_locale
from flask_babel import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table

from app.core.i18n import day, language_locale, money
from app.einvoicing.ubl_out import CreditNoteData, split_vat


def credit_note_pdf(data: CreditNoteData, language: str) -> bytes:
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    with force_locale(language_locale(language)):
        story = [Paragraph(escape(_("Credit note %(number)s", number=data.number)),
                           styles["Title"]),
                 Paragraph(escape(data.seller.name), styles["Normal"]),
                 Paragraph(escape(_("For: %(name)s", name=data.buyer.name)), styles["Normal"]),
                 Paragraph(escape(_("Date: %(date)s", date=day(data.issue_date))),
                           styles["Normal"])]
        if data.invoice_number:
            story.append(Paragraph(escape(_("Credits invoice %(invoice)s",
                                            invoice=data.invoice_number)), styles["Normal"]))
        if data.note:
            story.append(Paragraph(escape(data.note), styles["Normal"]))
        story.append(Spacer(1, 6 * mm))
        rows = [[_("Description"), _("VAT rate (%)"), _("Excl. VAT"), _("VAT"),
                 _("Amount incl. VAT")]]
        for part in data.parts:
            net, vat = split_vat(part.gross, part.rate)
            rows.append([part.name[:60], str(part.rate.normalize()), money(net, data.currency),
                         money(vat, data.currency), money(part.gross, data.currency)])
        total = sum((p.gross for p in data.parts), 0)
        rows.append([_("Total"), "", "", "", money(total, data.currency)])
        story.append(Table(rows))
        SimpleDocTemplate(buffer, pagesize=A4, title=data.number).build(story)
    return buffer.getvalue()
