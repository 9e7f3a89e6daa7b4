"""The account statement as a PDF (reportlab) and as CSV, in the reader's language (the portal
and the customer API serve the same files).

Both are built from app.accounts.statement, the same figures the statement page shows.
"""
from __future__ import annotations

import io
from decimal import Decimal

from flask_babel import format_decimal
from flask_babel import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import SimpleDocTemplate, Spacer, Table, TableStyle

from app.accounts.statement import Statement
from app.core.i18n import current_language, day, money
from app.core.settings import company_details
from app.core.spreadsheets import csv_writer
from app.invoices.pdf import INK, MUTED, RULE, SHADE, P


def kind_label(kind: str) -> str:
    return {"invoice": _("Invoice"), "credit_note": _("Credit note"), "payment": _("Payment"),
            "write_off": _("Write-off"), "returned": _("Returned payment")}.get(kind, kind)


# --- PDF --------------------------------------------------------------------------------------

def statement_pdf(statement: Statement) -> bytes:
    buffer = io.BytesIO()
    company = company_details()
    customer = statement.customer
    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm, topMargin=16 * mm,
        bottomMargin=18 * mm, title=_("Account statement"), author=company["name"],
        subject=customer.name)
    story = [
        P(company["name"], "seller"),
        P(company["address"], "small"),
        Spacer(1, 8 * mm),
        P(_("Account statement"), "heading"),
        P(_("%(name)s — customer number %(number)s", name=customer.name,
            number=customer.number), "body"),
        P(_("From %(start)s to %(end)s", start=day(statement.date_from),
            end=day(statement.date_to)), "body"),
        Spacer(1, 5 * mm),
        _lines_table(statement),
        Spacer(1, 6 * mm),
        P(_("Open amounts by age"), "heading"),
        Spacer(1, 2 * mm),
        _aging_table(statement),
    ]
    document.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return buffer.getvalue()


def _lines_table(statement: Statement) -> Table:
    head = [P(_("Date"), "head"), P(_("Document"), "head"), P(_("Description"), "head"),
            P(_("Debit"), "head_right"), P(_("Credit"), "head_right"),
            P(_("Balance"), "head_right")]
    rows = [head, ["", "", P(_("Opening balance"), "strong"), "", "",
                   P(money(statement.opening_balance), "strong_right")]]
    for line in statement.lines:
        rows.append([
            P(day(line.on, "short")), P(f"{kind_label(line.kind)} {line.reference}".strip()),
            P(line.text), P(money(line.debit) if line.debit else "", "right"),
            P(money(line.credit) if line.credit else "", "right"),
            P(money(line.balance), "right")])
    rows.append(["", "", P(_("Closing balance"), "strong"), "", "",
                 P(money(statement.closing_balance), "strong_right")])
    table = Table(rows, colWidths=[20 * mm, 38 * mm, 50 * mm, 24 * mm, 24 * mm, 22 * mm],
                  repeatRows=1)
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
        ("LINEBELOW", (0, 1), (-1, -2), 0.3, RULE),
        ("BACKGROUND", (0, -1), (-1, -1), SHADE),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]))
    return table


def _aging_table(statement: Statement) -> Table:
    rows = [[P(label), P(money(amount), "right")] for _key, label, amount in statement.aging]
    rows.append([P(_("Total open"), "strong"), P(money(statement.aging_total), "strong_right")])
    table = Table(rows, colWidths=[60 * mm, 30 * mm], hAlign="LEFT")
    table.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -2), 0.3, RULE),
                               ("LINEABOVE", (0, -1), (-1, -1), 0.8, INK)]))
    return table


def _footer(canvas, document) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 7.5)
    canvas.setFillColor(MUTED)
    canvas.drawRightString(A4[0] - 16 * mm, 10 * mm,
                           _("Page %(n)s", n=canvas.getPageNumber()))
    canvas.restoreState()


# --- CSV --------------------------------------------------------------------------------------

def statement_csv(statement: Statement) -> bytes:
    """UTF-8 with BOM; ';' and decimal comma in French and Dutch, as spreadsheets there expect."""
    continental = current_language() in ("fr", "nl")
    buffer = io.StringIO()
    writer = csv_writer(buffer, delimiter=";" if continental else ",", lineterminator="\r\n")
    writer.writerow([_("Date"), _("Type"), _("Document"), _("Description"), _("Debit"),
                     _("Credit"), _("Balance")])
    writer.writerow([statement.date_from.isoformat(), "", "", _("Opening balance"), "", "",
                     _number(statement.opening_balance)])
    for line in statement.lines:
        writer.writerow([line.on.isoformat(), kind_label(line.kind), line.reference,
                         line.text, _number(line.debit) if line.debit else "",
                         _number(line.credit) if line.credit else "", _number(line.balance)])
    writer.writerow([statement.date_to.isoformat(), "", "", _("Closing balance"), "", "",
                     _number(statement.closing_balance)])
    # The aging summary of the PDF and the page, after an empty row: its own small table.
    writer.writerow([])
    writer.writerow([_("Open amounts by age"), _("Amount")])
    for _key, label, amount in statement.aging:
        writer.writerow([label, _number(amount)])
    writer.writerow([_("Total open"), _number(statement.aging_total)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _number(amount: Decimal) -> str:
    """2 decimals, no thousands separator (so that a spreadsheet reads it as a number)."""
    return format_decimal(amount, format="0.00")
