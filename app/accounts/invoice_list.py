"""The portal's invoice list: tabs (open, overdue, paid, all), search, dates and paging.

Filtered by customer like every portal read model (see invoice_states.py); each combination of
tab and filters is a statement prepared once per process.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Integer, String, and_, bindparam, func, or_, select

from app.accounts.invoice_states import (
    CID,
    TODAY,
    InvoiceState,
    overdue_clause,
    select_with_state,
    state_from_row,
)
from app.core.time import business_today
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open

PAGE_SIZE = 25
INVOICE_FILTERS = {"open": _l("Open"), "overdue": _l("Overdue"), "paid": _l("Paid"),
                   "all": _l("All")}


@dataclass
class InvoiceFilters:
    status: str = "open"
    q: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1


@dataclass
class InvoicePage:
    rows: list[InvoiceState]
    total: int
    page: int
    pages: int
    filters: InvoiceFilters
    counts: dict[str, int]


def parse_filters(args: Any) -> tuple[InvoiceFilters, dict[str, list[str]]]:
    """Filters from the query string; a wrong value is reported and ignored, never a 500."""
    from app.core import validation as v

    errors = v.Errors()
    status = args.get("status") or "open"
    if status not in INVOICE_FILTERS:
        errors.add("status", _("Must be one of: %(choices)s.", choices=", ".join(INVOICE_FILTERS)))
        status = "open"
    date_from = v.a_date(args, "from", errors)
    date_to = v.a_date(args, "to", errors)
    if date_from and date_to and date_to < date_from:
        errors.add("to", _("The end date cannot be before the start date."))
        date_to = None
    page = v.integer(args, "page", errors, minimum=1, maximum=100000) or 1
    q = (args.get("q") or "").strip()[:100]
    return InvoiceFilters(status, q, date_from, date_to, page), errors.errors


def _filter_clause(status: str, searched: bool, date_from: bool, date_to: bool) -> list[Any]:
    """The tab's condition and the filters given (bind parameters :pattern, :date_from,
    :date_to), after the customer's id (:cid)."""
    clause = [Invoice.customer_id == CID]
    if status == "open":
        clause.append(invoice_is_open())
    elif status == "overdue":
        clause.append(overdue_clause(CID, TODAY))
    elif status == "paid":
        clause.append(Invoice.status == "paid")
    else:
        clause.append(Invoice.status != "cancelled")
    if searched:
        pattern = bindparam("pattern", type_=String)
        clause.append(or_(Invoice.number.ilike(pattern, escape="\\"),
                          Invoice.description.ilike(pattern, escape="\\")))
    if date_from:
        clause.append(Invoice.issue_date >= bindparam("date_from", type_=Date))
    if date_to:
        clause.append(Invoice.issue_date <= bindparam("date_to", type_=Date))
    return clause


INVOICE_ORDER = {
    "open": (Invoice.due_date, Invoice.id),
    "overdue": (Invoice.due_date, Invoice.id),
    "paid": (Invoice.paid_on.desc(), Invoice.id.desc()),
    "all": (Invoice.issue_date.desc(), Invoice.id.desc()),
}


@functools.cache
def _invoice_list_queries(status: str, searched: bool, date_from: bool, date_to: bool):
    """(rows, count) for one combination of tab and filters, paged by :offset and :limit."""
    clause = _filter_clause(status, searched, date_from, date_to)
    rows = (select_with_state(CID, *clause[1:]).order_by(*INVOICE_ORDER[status])
            .offset(bindparam("offset", type_=Integer)).limit(bindparam("limit", type_=Integer)))
    return rows, select(func.count(Invoice.id)).where(and_(*clause))


def invoice_page(customer_id: int, filters: InvoiceFilters, today: date | None = None
                 ) -> InvoicePage:
    today = today or business_today()
    filtered = bool(filters.q or filters.date_from or filters.date_to)
    rows_query, count_query = _invoice_list_queries(
        filters.status, bool(filters.q), bool(filters.date_from), bool(filters.date_to))
    values = {"cid": customer_id, "today": today, "pattern": f"%{_escape_like(filters.q)}%",
              "date_from": filters.date_from, "date_to": filters.date_to}
    counts = tab_counts(customer_id, today)
    if filtered:
        total = db.session.scalar(count_query, values) or 0
    else:
        total = counts[filters.status]  # the tab's own count: no second COUNT query
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(filters.page, pages)
    rows = db.session.execute(rows_query, {**values, "offset": (page - 1) * PAGE_SIZE,
                                           "limit": PAGE_SIZE})
    states = [state_from_row(row, today) for row in rows]
    return InvoicePage(states, total, page, pages, filters, counts)


@functools.cache
def _tab_counts_query():
    is_open = invoice_is_open()
    return select(
        func.count(Invoice.id).filter(is_open),
        # Deferred and planned invoices are not overdue for the customer, though past their
        # due_date: the same clause as the tab's list (_filter_clause).
        func.count(Invoice.id).filter(overdue_clause(CID, TODAY)),
        func.count(Invoice.id).filter(Invoice.status == "paid"),
        func.count(Invoice.id).filter(Invoice.status != "cancelled"),
    ).where(Invoice.customer_id == CID)


def tab_counts(customer_id: int, today: date) -> dict[str, int]:
    """How many invoices each tab holds, in one query."""
    row = db.session.execute(_tab_counts_query(), {"cid": customer_id, "today": today}).one()
    return dict(zip(("open", "overdue", "paid", "all"), (int(n or 0) for n in row)))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
