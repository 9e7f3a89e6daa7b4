"""The aging report as CSV or XLSX (one row per customer, then segments and the total)."""
from __future__ import annotations

import io
from decimal import Decimal

from flask_babel import gettext as _

from app.core.spreadsheets import append_row, csv_writer
from app.insights.aging import BUCKET_LABELS, BUCKETS, SEGMENT_LABELS, AgingReport, Row


def _header() -> list[str]:
    return ([_("Section"), _("Key"), _("Name"), _("Invoices")]
            + [str(BUCKET_LABELS[b]) for b in BUCKETS] + [_("Total")])


def _rows(report: AgingReport) -> list[list]:
    def line(section: str, row: Row) -> list:
        return [section, row.key, row.label, row.count, *[row.buckets[b] for b in BUCKETS],
                row.total]

    rows = [line(_("Customer"), r) for r in report.customers]
    for segment, segment_rows in report.segments.items():
        rows.extend(line(str(SEGMENT_LABELS[segment]), r) for r in segment_rows)
    rows.append(line(_("Total"), report.total))
    blank = [""] * (len(BUCKETS) + 1)
    rows.append([_("Total"), "", _("Open credit notes"), "", *blank[:-1],
                 -report.open_credit_notes])
    rows.append([_("Total"), "", _("Payments received, not yet allocated"), "", *blank[:-1],
                 -report.unallocated_payments])
    rows.append([_("Total"), "", _("Net balance (open invoices less open credit notes and "
                                   "unallocated payments)"), "", *blank[:-1], report.net_balance])
    return rows


def to_csv(report: AgingReport) -> bytes:
    out = io.StringIO()
    writer = csv_writer(out, delimiter=";")
    writer.writerow(_header())
    for row in _rows(report):
        writer.writerow([f"{v:.2f}" if isinstance(v, Decimal) else v for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel reads UTF-8 then


def to_xlsx(report: AgingReport) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = _("Aging")[:31]
    append_row(sheet, _header())
    for row in _rows(report):
        append_row(sheet, row)
    for column in range(5, 5 + len(BUCKETS) + 1):
        for cell in sheet.iter_cols(min_col=column, max_col=column, min_row=2):
            for c in cell:
                c.number_format = "#,##0.00"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
