"""The aging report as CSV or XLSX (one row per customer, then segments and the total)."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

from flask_babel import gettext as _

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


def _safe(value):
    """No formula injection: a text cell starting with = + - @ is prefixed with a quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def to_csv(report: AgingReport) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(_header())
    for row in _rows(report):
        writer.writerow([_safe(v) if not isinstance(v, Decimal) else f"{v:.2f}" for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel reads UTF-8 then


def to_xlsx(report: AgingReport) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = _("Aging")[:31]
    sheet.append(_header())
    for row in _rows(report):
        sheet.append([_safe(v) for v in row])
    for column in range(5, 5 + len(BUCKETS) + 1):
        for cell in sheet.iter_cols(min_col=column, max_col=column, min_row=2):
            for c in cell:
                c.number_format = "#,##0.00"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
