"""The aging report and DSO, each from one SQL aggregation over the invoices.

Buckets of open invoices by days past their due date: not yet due, 1-30, 31-60, 61-90, more
than 90. ``aging_report`` runs two queries with the same CASE buckets: one grouped by segment
(kind x language x country, at most a few dozen rows, from which the segments and the total are
summed), one grouped by customer (a page, the largest balance first).

DSO (days sales outstanding) at a date M = receivables at M / credit sales in the P days before
M x P (P = setting ``insights.dso_period_days``). The trend gives it at the end of each of the
last 12 months (the current month at today) from one query of SUM(CASE ...) columns. The
receivables at a past date are the invoices issued by then and not paid by then (paid_on): the
full amount of an invoice paid later, the open amount of one still open.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, literal, or_, select

from app.core.models import ZERO
from app.core.settings import get_setting, register_setting
from app.core.snapshots import Snapshot, register_figure, snapshot
from app.core.time import business_today
from app.customers.models import Customer
from app.customers.services import balance_parts
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open

register_setting("insights.dso_period_days", 90, "days",
                 _l("DSO: credit sales are counted over this many days"), "insights")

BUCKETS = ("not_due", "d1_30", "d31_60", "d61_90", "over_90")
BUCKET_LABELS = {"not_due": _l("Not yet due"), "d1_30": _l("1–30 days"),
                 "d31_60": _l("31–60 days"), "d61_90": _l("61–90 days"),
                 "over_90": _l("More than 90 days")}
SEGMENT_LABELS = {"kind": _l("Consumer or business"), "language": _l("Language"),
                  "country": _l("Country")}
Q = Decimal("0.01")


@dataclass
class Row:
    key: str
    label: str
    buckets: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(BUCKETS, ZERO))
    count: int = 0
    customer_id: int | None = None

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), ZERO)

    @property
    def overdue(self) -> Decimal:
        return self.total - self.buckets["not_due"]

    def add(self, other: Row) -> None:
        for bucket in BUCKETS:
            self.buckets[bucket] += other.buckets[bucket]
        self.count += other.count


@dataclass
class AgingReport:
    today: date
    total: Row
    segments: dict[str, list[Row]]  # "kind" / "language" / "country" -> rows
    customers: list[Row]
    offset: int
    has_more: bool
    # Open credit notes and money received but not allocated yet: not aged (nothing is due),
    # but the book's net balance deducts them, as every customer's balance does
    # (app.customers.services.balance_parts).
    open_credit_notes: Decimal = ZERO
    unallocated_payments: Decimal = ZERO

    @property
    def net_balance(self) -> Decimal:
        return self.total.total - self.open_credit_notes - self.unallocated_payments


def _bucket_columns(today: date):
    due = Invoice.due_date
    edges = {"not_due": due >= today,
             "d1_30": and_(due < today, due >= today - timedelta(days=30)),
             "d31_60": and_(due < today - timedelta(days=30), due >= today - timedelta(days=60)),
             "d61_90": and_(due < today - timedelta(days=60), due >= today - timedelta(days=90)),
             "over_90": due < today - timedelta(days=90)}
    return [func.coalesce(func.sum(case((edges[b], Invoice.open_amount), else_=0)), 0).label(b)
            for b in BUCKETS]


def _row(key: str, label: str, record, customer_id: int | None = None) -> Row:
    row = Row(key, label, {b: Decimal(getattr(record, b) or 0).quantize(Q) for b in BUCKETS},
              int(record.n or 0), customer_id)
    return row


def aging_report(today: date | None = None, customer_limit: int = 50,
                 customer_offset: int = 0) -> AgingReport:
    today = today or business_today()
    open_invoice = invoice_is_open()
    by_segment = db.session.execute(
        select(Customer.kind, Customer.language, Customer.country, *_bucket_columns(today),
               func.count().label("n"))
        .select_from(Invoice).join(Customer, Customer.id == Invoice.customer_id)
        .where(open_invoice)
        .group_by(Customer.kind, Customer.language, Customer.country)).all()
    total = Row("total", str(_l("Total")))
    segments: dict[str, dict[str, Row]] = {"kind": {}, "language": {}, "country": {}}
    for record in by_segment:
        part = _row("", "", record)
        total.add(part)
        for segment, rows in segments.items():
            value = getattr(record, segment) or "?"
            rows.setdefault(value, Row(value, _segment_label(segment, value))).add(part)
    # The page of customers is chosen inside the aggregation (streamed in customer order from
    # ix_invoice_open_cover), so only that page is joined to the customers, not all of them.
    amount = func.sum(Invoice.open_amount).label("amount")
    per_customer = (select(Invoice.customer_id, *_bucket_columns(today),
                           func.count().label("n"), amount)
                    .where(open_invoice).group_by(Invoice.customer_id)
                    .order_by(amount.desc(), Invoice.customer_id)
                    .limit(customer_limit + 1).offset(customer_offset)).subquery()
    records = db.session.execute(
        select(per_customer, Customer.number, Customer.name)
        .join(Customer, Customer.id == per_customer.c.customer_id)
        .order_by(per_customer.c.amount.desc(), per_customer.c.customer_id)).all()
    customers = [_row(r.number, r.name, r, r.customer_id) for r in records[:customer_limit]]
    # The other parts of the customers' balances, for the whole book.
    _invoices, credit_notes, unallocated = balance_parts(None)
    credit_notes, unallocated = (Decimal(value or 0).quantize(Q) for value in db.session.execute(
        select(credit_notes, unallocated)).one())
    return AgingReport(today, total,
                       {k: sorted(v.values(), key=lambda r: -r.total) for k, v in segments.items()},
                       customers, customer_offset, len(records) > customer_limit,
                       open_credit_notes=credit_notes, unallocated_payments=unallocated)


def _segment_label(segment: str, value: str) -> str:
    from app.customers.models import COUNTRIES, CUSTOMER_KINDS, LANGUAGES

    if segment == "kind":
        return str({"person": _l("Consumers"), "company": _l("Businesses")}.get(
            value, CUSTOMER_KINDS.get(value, value)))
    if segment == "language":
        return str(LANGUAGES.get(value, value))
    return str(COUNTRIES.get(value, value))


# --- DSO ------------------------------------------------------------------------------------------

@dataclass
class DsoPoint:
    at: date
    receivables: Decimal
    sales: Decimal

    @property
    def dso(self) -> Decimal | None:
        if not self.sales:
            return None
        period = Decimal(int(get_setting("insights.dso_period_days")))
        return (self.receivables / self.sales * period).quantize(Decimal("0.1"))


def month_ends(today: date, months: int = 12) -> list[date]:
    """The last day of each of the previous months, oldest first, and today."""
    ends = [today]
    year, month = today.year, today.month
    for _ in range(months - 1):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        ends.append(date(year, month, calendar.monthrange(year, month)[1]))
    return sorted(ends)


def dso_trend(today: date | None = None, months: int = 12) -> list[DsoPoint]:
    today = today or business_today()
    period = int(get_setting("insights.dso_period_days"))
    ends = month_ends(today, months)
    first = ends[0]
    is_open = invoice_is_open()
    columns = []
    for n, end in enumerate(ends):
        unpaid_then = and_(Invoice.issue_date <= end,
                           or_(is_open, Invoice.paid_on > end))
        amount_then = case((is_open, Invoice.open_amount), else_=Invoice.total_amount)
        columns.append(func.coalesce(func.sum(case((unpaid_then, amount_then), else_=0)), 0)
                       .label(f"ar{n}"))
        sold = and_(Invoice.issue_date > end - timedelta(days=period), Invoice.issue_date <= end)
        columns.append(func.coalesce(func.sum(case((sold, Invoice.total_amount), else_=0)), 0)
                       .label(f"s{n}"))
    record = db.session.execute(
        select(*columns).where(
            Invoice.status.not_in(("cancelled",)),
            or_(Invoice.issue_date > first - timedelta(days=period), is_open,
                Invoice.paid_on > first),
            Invoice.issue_date <= literal(today))).one()
    return [DsoPoint(end, Decimal(getattr(record, f"ar{n}") or 0).quantize(Q),
                     Decimal(getattr(record, f"s{n}") or 0).quantize(Q))
            for n, end in enumerate(ends)]


# The DSO trend reads twelve months of invoices (paid ones too): the costliest figure of the
# page. It is kept as a snapshot (app.core.snapshots), refreshed in the background once older
# than DSO_MAX_AGE; the page says when it was computed.
DSO_MAX_AGE = timedelta(hours=1)


def dso_snapshot(today: date | None = None, fresh: bool = False) -> Snapshot:
    """The DSO trend at ``today`` (a snapshot: ``.value`` the points, ``.computed_at`` when)."""
    today = today or business_today()
    period = int(get_setting("insights.dso_period_days"))
    # On the first view of a day (today's not computed yet by the scheduled job), the last
    # one of the same period is shown with its date while today's is computed in the background.
    return snapshot(f"dso:{today.isoformat()}:{period}", DSO_MAX_AGE, _decode_dso, fresh=fresh,
                    stand_in=f"dso:%:{period}")


def refresh_dso_today() -> None:
    """Job (app.jobs.SCHEDULE): today's DSO trend computed before the first view of the day."""
    dso_snapshot(fresh=True)


def _compute_dso(name: str) -> list[DsoPoint]:
    return dso_trend(date.fromisoformat(name.split(":")[1]))


def _encode_dso(points: list[DsoPoint]) -> list[list[str]]:
    return [[p.at.isoformat(), str(p.receivables), str(p.sales)] for p in points]


def _decode_dso(payload: list[list[str]]) -> list[DsoPoint]:
    return [DsoPoint(date.fromisoformat(at), Decimal(receivables), Decimal(sales))
            for at, receivables, sales in payload]


register_figure("dso", _compute_dso, _encode_dso)
