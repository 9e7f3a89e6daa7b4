"""The portal's account statement: the period's invoices, credit notes, payments, write-offs
and returned payments with a running balance, the opening balance and the aging summary.

Filtered by customer like every portal read model (see invoice_states.py); the page, the PDF and
the CSV (exports.py) all show statement().
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, String, and_, bindparam, case, func, null, or_, select, union_all
from sqlalchemy import literal as sa_literal

from app.accounts.invoice_states import CID, active_deferral_date, in_active_plan
from app.core.i18n import day as _day
from app.core.models import ZERO
from app.core.time import business_today
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import CreditNote, Invoice, invoice_is_open
from app.payments.incoming.models import StatementLine as BankStatementLine
from app.payments.models import Payment
from app.payments.outgoing.models import WriteOff

# Aging buckets: (key, label, first day overdue, last day overdue or None).
AGING_BUCKETS = (
    ("current", _l("Not yet due"), None, 0),
    ("d1_30", _l("1–30 days"), 1, 30),
    ("d31_60", _l("31–60 days"), 31, 60),
    ("d61_90", _l("61–90 days"), 61, 90),
    ("d90", _l("More than 90 days"), 91, None),
)


@dataclass
class StatementLine:
    on: date
    kind: str            # invoice / credit_note / payment / write_off / returned
    reference: str
    text: str
    debit: Decimal
    credit: Decimal
    balance: Decimal = ZERO


@dataclass
class Statement:
    customer: Customer
    date_from: date
    date_to: date
    opening_balance: Decimal
    lines: list[StatementLine]
    closing_balance: Decimal
    aging: list[tuple[str, str, Decimal]]
    aging_total: Decimal


KIND_ORDER = {"invoice": 0, "credit_note": 1, "payment": 2, "write_off": 3, "returned": 4}


def default_period(today: date | None = None) -> tuple[date, date]:
    today = today or business_today()
    return today.replace(day=1) - timedelta(days=365), today


def statement(customer: Customer, date_from: date | None = None, date_to: date | None = None,
              today: date | None = None) -> Statement:
    """Invoices, credit notes and payments in date order with a running balance.

    Everything before ``date_from`` is summed into the opening balance, so the running balance
    is right whatever period is shown. Two round trips: the period's lines, then the opening
    balance and the aging summary together.
    """
    today = today or business_today()
    default_from, default_to = default_period(today)
    date_from, date_to = date_from or default_from, date_to or default_to
    cid = customer.id
    entries = _statement_entries(cid, date_from, date_to)
    sums = db.session.execute(_statement_sums_query(),
                              {"cid": cid, "before": date_from, **_aging_limits(today)}).one()
    opening = _opening_balance(sums[:len(OPENING_PARTS)])
    aging, aging_total = _aging_buckets(sums[len(OPENING_PARTS):])
    balance = opening
    for entry in entries:
        balance += entry.debit - entry.credit
        entry.balance = balance
    return Statement(customer, date_from, date_to, opening, entries, balance, aging, aging_total)


def _statement_entries(cid: int, date_from: date, date_to: date) -> list[StatementLine]:
    """The period's lines in date order, each with its text in the customer's language."""
    from app.payments.models import PAYMENT_METHODS

    rows = db.session.execute(_statement_entries_query(),
                              {"cid": cid, "date_from": date_from, "date_to": date_to})
    lines: list[StatementLine] = []
    for on, kind, reference, description, other_day, method, amount in rows:
        on = _as_date(on)
        if kind == "invoice":
            text = description or _("Invoice, due on %(date)s", date=_day(_as_date(other_day)))
            lines.append(StatementLine(on, kind, reference, text, amount, ZERO))
        elif kind == "write_off":
            lines.append(StatementLine(on, kind, reference, _("Written off"), ZERO, amount))
        elif kind == "credit_note":
            lines.append(StatementLine(on, kind, reference, _("Credit note"), ZERO, amount))
        elif kind == "payment":
            text = _("Payment (%(method)s)", method=PAYMENT_METHODS.get(method, method))
            lines.append(StatementLine(on, kind, reference, text, ZERO, amount))
        else:
            received = _day(_as_date(other_day))
            text = (_("Direct debit of %(date)s returned by your bank", date=received)
                    if method == "direct_debit" else
                    _("Payment of %(date)s returned by your bank", date=received))
            lines.append(StatementLine(on, kind, reference, text, amount, ZERO))
    lines.sort(key=lambda line: (line.on, KIND_ORDER[line.kind], line.reference))
    return lines


@functools.cache
def _statement_entries_query():
    """One UNION ALL of (day, kind, reference, description, other day, payment method, amount)
    for the period's invoices, write-offs, credit notes, payments and returned payments."""
    date_from, date_to = bindparam("date_from", type_=Date), bindparam("date_to", type_=Date)

    def branch(on, kind, reference, amount, *where, description=None, other_day=None,
               method=None):
        return select(on.label("on"), sa_literal(kind).label("kind"),
                      reference.label("reference"), _or_null(description, String),
                      _or_null(other_day, Date), _or_null(method, String),
                      amount.label("amount")).where(*where)

    written_off_on, approved_on = func.date(Invoice.updated_at), func.date(WriteOff.approved_at)
    returned_on = _returned_on()
    return union_all(
        branch(Invoice.issue_date, "invoice", Invoice.number, Invoice.total_amount,
               Invoice.customer_id == CID, Invoice.status != "cancelled",
               Invoice.issue_date.between(date_from, date_to),
               description=Invoice.description, other_day=Invoice.due_date),
        branch(approved_on, "write_off", Invoice.number, WriteOff.amount,
               *_approved_write_offs(CID), approved_on.between(date_from, date_to))
        .select_from(WriteOff).join(Invoice, Invoice.id == WriteOff.invoice_id),
        branch(written_off_on, "write_off", Invoice.number, Invoice.open_amount,
               *_status_write_offs(CID), written_off_on.between(date_from, date_to)),
        branch(CreditNote.issue_date, "credit_note", CreditNote.number, CreditNote.amount,
               CreditNote.customer_id == CID, CreditNote.issue_date.between(date_from, date_to)),
        # Every payment received, returned ones too: the bank's return is a line of its own
        # (a debit on the day the bank took the money back), so the running balance shows both.
        branch(Payment.received_on, "payment", func.coalesce(Payment.communication, ""),
               Payment.amount, Payment.customer_id == CID,
               Payment.received_on.between(date_from, date_to), method=Payment.method),
        branch(returned_on, "returned", func.coalesce(Payment.communication, ""),
               Payment.amount, Payment.customer_id == CID, Payment.status == "returned",
               returned_on.between(date_from, date_to), other_day=Payment.received_on,
               method=Payment.method)
        .outerjoin(BankStatementLine, BankStatementLine.id == Payment.return_line_id),
    )


@functools.cache
def _statement_sums_query():
    """The opening balance's parts (before :before) and the aging buckets, in one row (the
    aging's one-row aggregate is the FROM, the opening parts scalar subqueries beside it)."""
    return select(*_opening_columns(CID, bindparam("before", type_=Date)), *_aging_columns(CID))


def _or_null(column, type_):
    """A UNION branch's column, or a typed NULL where that kind of line has none."""
    return column if column is not None else null().cast(type_)


def _as_date(value: date | str) -> date:
    """SQLite gives func.date() and the UNION's columns back as text."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def _returned_on():
    """The day the bank took a returned payment back: the booking date of the bank statement
    line that returned it, else the day it was recorded, else (an old row with neither) the day
    it was received. Needs BankStatementLine outer-joined."""
    return func.coalesce(BankStatementLine.booking_date, func.date(Payment.returned_at),
                         Payment.received_on, type_=Date)


def _approved_write_offs(cid: Any) -> list[Any]:
    """Write-offs approved under the approval limits (app/payments/outgoing/adjustments.py): the
    invoice is left with nothing open, the amount given up is on the WriteOff row. Needs
    Invoice joined; an invoice taken back into the receivables since then no longer counts."""
    return [WriteOff.customer_id == cid, WriteOff.status == "approved",
            Invoice.status == "written_off"]


def _status_write_offs(cid: Any) -> list[Any]:
    """Invoices staff marked "written off" in the invoice screen: the open amount is kept on
    the invoice, and that amount is what was given up."""
    return [Invoice.customer_id == cid, Invoice.status == "written_off", Invoice.open_amount != 0]


# Invoiced - written off (both ways) - credited - paid + returned before the period: the
# opening balance.
OPENING_PARTS = (1, -1, -1, -1, -1, 1)


def _opening_columns(cid: Any, before: Any) -> list[Any]:
    """Scalar subqueries, in the order and with the signs of OPENING_PARTS."""
    def total(column, *where):
        return select(func.coalesce(func.sum(column), 0)).where(*where).scalar_subquery()

    returned_on = _returned_on()
    return [
        total(Invoice.total_amount, Invoice.customer_id == cid, Invoice.status != "cancelled",
              Invoice.issue_date < before),
        select(func.coalesce(func.sum(WriteOff.amount), 0))
        .join(Invoice, Invoice.id == WriteOff.invoice_id)
        .where(*_approved_write_offs(cid), func.date(WriteOff.approved_at) < before)
        .scalar_subquery(),
        total(Invoice.open_amount, *_status_write_offs(cid),
              func.date(Invoice.updated_at) < before),
        total(CreditNote.amount, CreditNote.customer_id == cid, CreditNote.issue_date < before),
        total(Payment.amount, Payment.customer_id == cid, Payment.received_on < before),
        select(func.coalesce(func.sum(Payment.amount), 0))
        .outerjoin(BankStatementLine, BankStatementLine.id == Payment.return_line_id)
        .where(Payment.customer_id == cid, Payment.status == "returned",
               returned_on < before).scalar_subquery(),
    ]


def _opening_balance(sums: Any) -> Decimal:
    total = sum((sign * Decimal(value or 0) for sign, value in zip(OPENING_PARTS, sums)), ZERO)
    return total.quantize(Decimal("0.01"))


def _aging_limits(today: date) -> dict[str, date]:
    """The due dates that bound the aging buckets today, as bind parameters: "d days overdue"
    is compared as a due date (due <= today - d), so the SQL is the same on PostgreSQL and
    SQLite and does not change from day to day."""
    limits = {}
    for key, _label, first, last in AGING_BUCKETS:
        if first is not None:
            limits[f"aging_{key}_first"] = today - timedelta(days=first)
        if last is not None:
            limits[f"aging_{key}_last"] = today - timedelta(days=last)
    return limits


def _aging_columns(cid: Any) -> list[Any]:
    """The open amount of the invoices due in each aging bucket (bind parameters from
    _aging_limits), from one pass over the customer's open invoices: each invoice's due date
    (moved by an active deferral) and whether an active plan covers it are looked up once, not
    once per bucket (five scans with two deferral look-ups each were most of the statement's
    database time)."""
    # The due date the dashboard's "Overdue" uses (overdue_clause): moved by an active
    # deferral; an invoice in an active plan is paid by instalments, so it is "not yet due".
    rows = (select(Invoice.open_amount.label("open_amount"),
                   func.coalesce(active_deferral_date(cid), Invoice.due_date).label("due"),
                   in_active_plan(cid).label("planned"))
            .where(Invoice.customer_id == cid, invoice_is_open())
            .subquery("open_invoice"))
    sums = []
    for key, _label, first, last in AGING_BUCKETS:
        bounds = []
        if first is not None:
            bounds.append(rows.c.due <= bindparam(f"aging_{key}_first", type_=Date))
        if last is not None:
            bounds.append(rows.c.due >= bindparam(f"aging_{key}_last", type_=Date))
        if first is None:  # "not yet due" holds the plan's invoices too
            within = or_(rows.c.planned, and_(*bounds))
        else:
            within = and_(~rows.c.planned, *bounds)
        sums.append(func.coalesce(func.sum(case((within, rows.c.open_amount), else_=0)), 0)
                    .label(f"aging_{key}"))
    return list(select(*sums).subquery("aging").c)  # one row: an aggregate without GROUP BY


def _aging_buckets(sums: Any) -> tuple[list[tuple[str, str, Decimal]], Decimal]:
    buckets = [(key, str(label), Decimal(value or 0).quantize(Decimal("0.01")))
               for (key, label, *_), value in zip(AGING_BUCKETS, sums)]
    return buckets, sum((amount for *_, amount in buckets), ZERO)
