"""Invoice PDFs: the ERP's own file when one was uploaded, otherwise one drawn here.

The drawn invoice speaks the customer's language (texts, amounts, dates) whoever asks for it —
a clerk in English, a job, the portal — because it is rendered inside force_locale. It carries
everything needed to pay: IBAN, BIC, structured communication, RF reference and an EPC QR code
drawn as vector squares (sharp at any zoom, no image library).

Fonts are reportlab's built-in Helvetica (WinAnsi encoding: accents and € are covered).
"""
from __future__ import annotations

import io
import logging
import secrets
import unicodedata
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from flask_babel import force_locale, format_decimal, format_percent
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from app.core import bank_identifiers
from app.core.i18n import day, language_locale, money
from app.core.models import ZERO
from app.core.settings import company_details
from app.core.storage import StorageUnavailable, is_key, storage
from app.core.validation import ValidationError
from app.extensions import db
from app.invoices import epc
from app.invoices.models import INVOICE_STATUSES, Invoice
from app.invoices.references import format_ogm, format_rf

log = logging.getLogger(__name__)

MAX_ERP_PDF_BYTES = 10 * 1024 * 1024
ERP_PDF_FOLDER = "invoices"  # in the file store (app.core.storage), never under the web root

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#616e7c")
RULE = colors.HexColor("#cbd2d9")
SHADE = colors.HexColor("#f0f4f8")
PAID = colors.HexColor("#207a3c")


# --- the ERP's PDF ----------------------------------------------------------------------------

def invoice_pdf_bytes(invoice: Invoice) -> bytes:
    """The PDF a customer gets: the ERP's uploaded file if there is one, else ours.

    A store that cannot be reached raises StorageUnavailable rather than drawing our PDF in
    place of the ERP's (the invoice of record): the page says to try again, a message job
    retries later."""
    key = erp_pdf_key(invoice)
    if key is not None:
        data = storage().get(key)
        if data is not None:
            return data
        log.warning("invoice %s: uploaded PDF %s is missing; rendering one", invoice.id,
                    invoice.pdf_path)
    return render_invoice_pdf(invoice)


def erp_pdf_key(invoice: Invoice) -> str | None:
    """The uploaded PDF's key in the file store: invoices/<one name>, never anything else
    (None when there is none)."""
    if not invoice.pdf_path:
        return None
    folder, _slash, name = invoice.pdf_path.partition("/")
    if folder != ERP_PDF_FOLDER or not name or "/" in name or not is_key(invoice.pdf_path):
        log.warning("invoice %s: pdf_path %r is outside %s/; ignored", invoice.id,
                    invoice.pdf_path, ERP_PDF_FOLDER)
        return None
    return invoice.pdf_path


def store_erp_pdf(invoice: Invoice, data: bytes) -> str:
    """Keep the ERP's PDF for this invoice (the caller commits); returns its key.

    Refused with a ValidationError, and nothing written, unless the content is a complete PDF
    (starts with %PDF-, ends with %%EOF) of at most 10 MB; StorageUnavailable (a
    ValidationError on "pdf") when the file store cannot take it. The file name is generated:
    nothing the uploader chose reaches the store.
    """
    if not data:
        raise ValidationError({"pdf": _("The file is empty.")})
    if len(data) > MAX_ERP_PDF_BYTES:
        raise ValidationError({"pdf": _("The file is too large: at most %(n)s MB.",
                                        n=MAX_ERP_PDF_BYTES // (1024 * 1024))})
    # Readers accept up to 1 KB of junk after the end marker; a cut-off upload has none.
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-1024:]:
        raise ValidationError({"pdf": _("The file is not a PDF document.")})
    if invoice.id is None:
        db.session.flush()  # the file name carries the invoice id
    key = f"{ERP_PDF_FOLDER}/invoice-{invoice.id}-{secrets.token_hex(8)}.pdf"
    try:
        storage().put(key, data)  # whole or nothing: readers never see a half-written file
    except StorageUnavailable as exc:
        raise exc.for_field("pdf") from exc
    invoice.pdf_path = key
    return invoice.pdf_path


def forget_erp_pdf(key: str | None) -> None:
    """Remove a replaced ERP PDF (after the commit); one left behind is only unused space."""
    if key is None:
        return
    try:
        storage().delete(key)
    except StorageUnavailable as exc:
        log.warning("could not remove the replaced PDF: %s", exc)


# --- the drawn PDF ----------------------------------------------------------------------------

def render_invoice_pdf(invoice: Invoice) -> bytes:
    """Draw the invoice in its customer's language and return the PDF bytes."""
    with force_locale(language_locale(invoice.customer.language)):
        return _InvoicePdf(invoice, company_details()).build()


# Letters Unicode does not split into base letter + accent.
_NO_DECOMPOSITION = {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i"}


def pdf_text(value: Any) -> str:
    """Text Helvetica can show: narrow spaces become no-break spaces, other letters outside
    WinAnsi lose their accent (Ł -> L) rather than print as a black box."""
    text = "" if value is None else str(value)
    text = text.replace("\u202f", "\u00a0").replace("\u2009", " ")
    try:
        text.encode("cp1252")
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for char in text:
        try:
            char.encode("cp1252")
            out.append(char)
        except UnicodeEncodeError:
            char = _NO_DECOMPOSITION.get(char, char)
            base = unicodedata.normalize("NFKD", char).encode("cp1252", "ignore").decode("cp1252")
            out.append(base or "?")
    return "".join(out)


def _markup(value: Any) -> str:
    """Plain text for a Paragraph: escaped, line breaks kept."""
    return escape(pdf_text(value)).replace("\n", "<br/>")


def _style(name: str, **kwargs) -> ParagraphStyle:
    base = {"fontName": "Helvetica", "fontSize": 9, "leading": 12, "textColor": INK}
    base.update(kwargs)
    return ParagraphStyle(name, **base)


STYLES = {
    "body": _style("body"),
    "small": _style("small", fontSize=8, leading=10, textColor=MUTED),
    "seller": _style("seller", fontName="Helvetica-Bold", fontSize=13, leading=16),
    "title": _style("title", fontName="Helvetica-Bold", fontSize=22, leading=26,
                    alignment=TA_RIGHT),
    "label": _style("label", textColor=MUTED),
    "label_right": _style("label_right", textColor=MUTED, alignment=TA_RIGHT),
    "right": _style("right", alignment=TA_RIGHT),
    "strong": _style("strong", fontName="Helvetica-Bold"),
    "strong_right": _style("strong_right", fontName="Helvetica-Bold", alignment=TA_RIGHT),
    "heading": _style("heading", fontName="Helvetica-Bold", fontSize=11, leading=14),
    "head": _style("head", fontName="Helvetica-Bold", fontSize=8, leading=10, textColor=MUTED),
    "head_right": _style("head_right", fontName="Helvetica-Bold", fontSize=8, leading=10,
                         textColor=MUTED, alignment=TA_RIGHT),
    "customer": _style("customer", fontSize=10, leading=13),
    "customer_name": _style("customer_name", fontName="Helvetica-Bold", fontSize=10, leading=13),
    "paid": _style("paid", fontName="Helvetica-Bold", fontSize=20, leading=24, textColor=PAID),
    "caption": _style("caption", fontSize=7.5, leading=9, textColor=MUTED, alignment=1),
    "reference": _style("reference", fontName="Helvetica-Bold", fontSize=11, leading=14),
}


def P(value: Any, style: str = "body") -> Paragraph:
    return Paragraph(_markup(value), STYLES[style])


class QrFlowable(Flowable):
    """A QR code drawn as filled rectangles, quiet zone included, ``width`` wide."""

    def __init__(self, qr, width: float):
        super().__init__()
        self.size, self.runs = epc.dark_module_runs(qr)
        self.width = self.height = width
        self.module = width / (self.size + 2 * epc.QUIET_ZONE)

    def draw(self) -> None:
        canvas, m, top = self.canv, self.module, self.height
        canvas.saveState()
        canvas.setFillColor(colors.white)
        canvas.rect(0, 0, self.width, self.height, stroke=0, fill=1)
        canvas.setFillColor(colors.black)
        for run in self.runs:
            x = (epc.QUIET_ZONE + run.column) * m
            y = top - (epc.QUIET_ZONE + run.row + 1) * m
            canvas.rect(x, y, run.length * m, m, stroke=0, fill=1)
        canvas.restoreState()


class _InvoicePdf:
    """One invoice laid out on A4; call build() inside the customer's forced locale."""

    page_width, page_height = A4
    margin = 18 * mm

    def __init__(self, invoice: Invoice, company: dict[str, Any]):
        self.invoice = invoice
        self.customer = invoice.customer
        self.company = company
        self.content_width = self.page_width - 2 * self.margin

    def build(self) -> bytes:
        buffer = io.BytesIO()
        title = _("Invoice %(number)s", number=self.invoice.number)
        document = SimpleDocTemplate(
            buffer, pagesize=A4, leftMargin=self.margin, rightMargin=self.margin,
            topMargin=self.margin, bottomMargin=self.margin + 8 * mm,
            title=pdf_text(title), author=pdf_text(self.company["name"]),
            subject=pdf_text(title), creator="CreditDesk",
            lang=language_locale(self.customer.language).replace("_", "-"),
        )
        story = [self._header(), Spacer(1, 10 * mm), self._addressee(), Spacer(1, 10 * mm),
                 self._lines(), Spacer(1, 4 * mm), self._totals(), Spacer(1, 8 * mm),
                 self._payment()]
        document.build(story, onFirstPage=self._footer, onLaterPages=self._footer)
        return buffer.getvalue()

    # -- blocks -----------------------------------------------------------------------------

    def _header(self) -> Table:
        c = self.company
        seller = [P(c["name"], "seller")]
        seller += [P(line) for line in (c["address"] or "").splitlines()]
        if c["enterprise_number"]:
            seller.append(P(_("Enterprise number: %(number)s", number=c["enterprise_number"]),
                            "small"))
        if c["vat_number"]:
            seller.append(P(_("VAT: %(number)s", number=c["vat_number"]), "small"))
        contact = " · ".join(x for x in (c["email"], c["phone"]) if x)
        if contact:
            seller.append(P(contact, "small"))
        if c["website"]:
            seller.append(P(c["website"], "small"))

        inv = self.invoice
        facts = [
            (_("Invoice number"), inv.number),
            (_("Issue date"), day(inv.issue_date)),
            (_("Due date"), day(inv.due_date)),
            (_("Customer number"), self.customer.number),
        ]
        facts_table = Table([[P(label, "label_right"), P(value, "strong_right")]
                             for label, value in facts],
                            colWidths=[38 * mm, 40 * mm])
        facts_table.setStyle(_plain())
        right = [P(_("Invoice"), "title"), Spacer(1, 3 * mm), facts_table]
        table = Table([[seller, right]], colWidths=[self.content_width - 80 * mm, 80 * mm])
        table.setStyle(_plain())
        return table

    def _addressee(self) -> Table:
        # On the right, where a window envelope shows it.
        customer = self.customer
        block = [P(customer.name, "customer_name")]
        address = next((a for a in customer.addresses if a.kind == "billing"), None) or next(
            iter(customer.addresses), None)
        if address is not None:
            block += [P(line, "customer") for line in address.lines()]
            if address.country and address.country != "BE":
                from app.customers.models import COUNTRIES

                block.append(P(COUNTRIES.get(address.country, address.country), "customer"))
        if customer.vat_number:
            block.append(P(_("VAT: %(number)s", number=customer.vat_number), "small"))
        table = Table([["", block]], colWidths=[self.content_width - 80 * mm, 80 * mm])
        table.setStyle(_plain())
        return table

    def _lines(self) -> Table:
        inv = self.invoice
        head = [P(_("Description"), "head"), P(_("Quantity"), "head_right"),
                P(_("Unit price"), "head_right"), P(_("VAT"), "head_right"),
                P(_("Amount incl. VAT"), "head_right")]
        rows = [head]
        for line in inv.lines:
            rows.append([P(line.description), P(_number(line.quantity), "right"),
                         P(money(line.unit_price, inv.currency), "right"),
                         P(_percent(line.vat_rate), "right"),
                         P(money(line.amount, inv.currency), "right")])
        if not inv.lines:
            description = inv.description or _("Invoice %(number)s", number=inv.number)
            rows.append([P(description), "", "", "", P(money(inv.total_amount, inv.currency),
                                                          "right")])
        widths = [None, 20 * mm, 28 * mm, 16 * mm, 32 * mm]
        widths[0] = self.content_width - sum(w for w in widths if w)
        table = Table(rows, colWidths=widths, repeatRows=1)
        table.setStyle(TableStyle([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
            ("LINEBELOW", (0, 1), (-1, -1), 0.4, RULE),
            ("TOPPADDING", (0, 0), (-1, -1), 4),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ("LEFTPADDING", (0, 0), (0, -1), 0),
            ("RIGHTPADDING", (-1, 0), (-1, -1), 0),
        ]))
        return table

    def _totals(self) -> Table:
        inv = self.invoice
        paid = (inv.total_amount or ZERO) - (inv.open_amount or ZERO)
        rows = [[P(_("Total incl. VAT")), P(money(inv.total_amount, inv.currency), "right")]]
        if paid > 0:
            rows.append([P(_("Already paid")), P(money(-paid, inv.currency), "right")])
        rows.append([P(_("Amount due"), "strong"),
                     P(money(inv.open_amount, inv.currency), "strong_right")])
        table = Table(rows, colWidths=[48 * mm, 32 * mm], hAlign="RIGHT")
        table.setStyle(TableStyle([
            ("LINEABOVE", (0, -1), (-1, -1), 0.8, INK),
            ("TOPPADDING", (0, 0), (-1, -1), 3),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (-1, 0), (-1, -1), 0),
        ]))
        return table

    def _payment(self) -> Flowable:
        inv = self.invoice
        if inv.status == "paid" or (inv.is_open and (inv.open_amount or ZERO) <= 0):
            paid_on = _("Paid on %(date)s.", date=day(inv.paid_on)) if inv.paid_on else ""
            return KeepTogether([P(_("Paid"), "paid"),
                                 P(" ".join(x for x in (paid_on, _("Thank you.")) if x))])
        if not inv.is_open:
            label = INVOICE_STATUSES.get(inv.status, inv.status)
            return P(_("Status: %(status)s. Nothing is to be paid.", status=label), "heading")
        return KeepTogether([self._how_to_pay()])

    def _how_to_pay(self) -> Table:
        inv, c = self.invoice, self.company
        try:
            iban = bank_identifiers.format_iban(bank_identifiers.clean_iban(c["iban"]))
        except ValidationError:
            iban = c["iban"]
        details = [
            (_("Amount"), money(inv.open_amount, inv.currency), "reference"),
            (_("Beneficiary"), c["name"], "body"),
            (_("IBAN"), iban, "strong"),
            (_("BIC"), c["bic"], "body"),
            (_("Structured communication"), format_ogm(inv.structured_reference), "reference"),
            (_("or RF reference (international)"), format_rf(inv.rf_reference), "body"),
            (_("Due date"), day(inv.due_date), "body"),
        ]
        rows = [[P(_("How to pay"), "heading"), ""]]
        rows += [[P(label, "label"), P(value, style)] for label, value, style in details if value]
        rows.append([P(_("Please use the structured communication so that your payment is "
                         "recognised at once."), "small"), ""])
        text = Table(rows, colWidths=[52 * mm, None])
        text.setStyle(TableStyle([
            ("SPAN", (0, 0), (-1, 0)), ("SPAN", (0, -1), (-1, -1)),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, 0), 6),
            ("TOPPADDING", (0, -1), (-1, -1), 6),
        ]))
        qr_cell = self._qr_cell()
        qr_width = 44 * mm
        box = Table([[text, qr_cell]], colWidths=[self.content_width - qr_width, qr_width])
        box.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (-1, -1), SHADE),
            ("BOX", (0, 0), (-1, -1), 0.6, RULE),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("LEFTPADDING", (0, 0), (0, 0), 5 * mm),
            ("TOPPADDING", (0, 0), (-1, -1), 4 * mm),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 4 * mm),
            ("RIGHTPADDING", (-1, 0), (-1, 0), 4 * mm),
        ]))
        return box

    def _qr_cell(self) -> list[Flowable] | str:
        try:
            qr = epc.invoice_qr(self.invoice)
        except ValidationError as exc:
            # A wrong company IBAN/BIC must not stop customers from getting their invoice.
            log.warning("no QR code on invoice %s: %s", self.invoice.id, exc)
            return ""
        if qr is None:
            return ""
        return [QrFlowable(qr, 36 * mm), Spacer(1, 1.5 * mm),
                P(_("Scan with your banking app"), "caption")]

    def _footer(self, canvas, document) -> None:
        c = self.company
        parts = [c["name"], (c["address"] or "").replace("\n", ", ")]
        if c["enterprise_number"]:
            parts.append(_("Enterprise number: %(number)s", number=c["enterprise_number"]))
        if c["vat_number"]:
            parts.append(_("VAT: %(number)s", number=c["vat_number"]))
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        y = self.margin
        canvas.line(self.margin, y + 3 * mm, self.page_width - self.margin, y + 3 * mm)
        line = pdf_text(" · ".join(p for p in parts if p))
        # A long company address shrinks the footer rather than running into the page number.
        size, room = 7.0, self.content_width - 18 * mm
        while size > 5 and stringWidth(line, "Helvetica", size) > room:
            size -= 0.25
        canvas.setFont("Helvetica", size)
        canvas.setFillColor(MUTED)
        canvas.drawString(self.margin, y, line)
        canvas.setFont("Helvetica", 7)
        canvas.drawRightString(self.page_width - self.margin, y,
                               pdf_text(_("Page %(page)s", page=document.page)))
        canvas.restoreState()


def _plain() -> TableStyle:
    return TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
        ("TOPPADDING", (0, 0), (-1, -1), 1),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
    ])


def _number(value: Decimal | None) -> str:
    return format_decimal(value) if value is not None else ""


def _percent(rate: Decimal | None) -> str:
    return format_percent(Decimal(rate) / 100) if rate is not None else ""
