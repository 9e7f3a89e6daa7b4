"""The cash screen's figures: a business day's statements at a glance, and what still waits.

Read only. One place for the buckets a statement line falls in (matched, suggested, unmatched,
returns, returns still open, set aside), so the screen and its totals cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from app.core.models import ZERO
from app.core.time import BUSINESS_TZ
from app.extensions import db
from app.payments.incoming.checks import HOME_CURRENCY
from app.payments.incoming.models import BankStatement, StatementLine
from app.payments.incoming.queue import WAITING
from app.payments.incoming.report import Tally
from app.payments.incoming.returns import unreviewed_returns
from app.payments.models import Payment

BUCKETS = ("matched", "suggested", "unmatched", "returns", "returns_open", "ignored")


@dataclass
class CashDay:
    day: date
    statements: list[BankStatement]
    # Amounts per currency (Tally.amounts): francs are never added to euros.
    figures: dict[int, dict[str, Tally]]   # statement id -> bucket -> lines and amounts
    totals: dict[str, Tally]               # bucket -> lines and amounts over the day
    waiting: Tally                         # lines waiting for a person (any day)
    credits: Tally                         # money on customers' accounts not allocated
    returns: tuple[int, Decimal]           # returns and reversals nobody reviewed


def cash_day(day: date) -> CashDay:
    start, end = utc_day(day)
    statements = list(db.session.scalars(
        select(BankStatement).where(BankStatement.imported_at >= start,
                                    BankStatement.imported_at < end)
        .order_by(BankStatement.imported_at.desc())))
    figures = line_figures([s.id for s in statements])
    waiting = _per_currency(db.session.execute(
        select(StatementLine.currency, func.count(),
               func.coalesce(func.sum(StatementLine.amount), 0))
        .where(StatementLine.status.in_(WAITING)).group_by(StatementLine.currency)))
    credits = _per_currency(db.session.execute(
        select(Payment.currency, func.count(),
               func.coalesce(func.sum(Payment.unallocated_amount), 0))
        .where(Payment.customer_id.is_not(None), Payment.unallocated_amount > 0,
               Payment.status != "returned").group_by(Payment.currency)))
    return CashDay(day=day, statements=statements, figures=figures,
                   totals=totals(figures.values()), waiting=waiting,
                   credits=credits, returns=unreviewed_returns())


def _per_currency(rows) -> Tally:
    tally = Tally()
    for currency, count, amount in rows:
        tally.count += count
        tally.amounts[currency or HOME_CURRENCY] = Decimal(amount)
    return tally


def utc_day(day: date) -> tuple[datetime, datetime]:
    """The business day (Europe/Brussels) as a UTC range: imported_at is stored in UTC."""
    start = datetime.combine(day, time.min, BUSINESS_TZ)
    return start, start + timedelta(days=1)


def line_figures(statement_ids: list[int]) -> dict[int, dict[str, Tally]]:
    """{statement id: {bucket: Tally (lines, amount per currency)}} for the BUCKETS."""
    figures: dict[int, dict[str, Tally]] = {
        i: {name: Tally() for name in BUCKETS} for i in statement_ids}
    if not statement_ids:
        return figures
    rows = db.session.execute(
        select(StatementLine.statement_id, StatementLine.kind, StatementLine.status,
               StatementLine.currency, func.count(),
               func.coalesce(func.sum(StatementLine.amount), 0))
        .where(StatementLine.statement_id.in_(statement_ids))
        .group_by(StatementLine.statement_id, StatementLine.kind, StatementLine.status,
                  StatementLine.currency)).all()
    for statement_id, kind, status, currency, count, amount in rows:
        tally = figures[statement_id][bucket_of(kind, status)]
        tally.count += count
        currency = currency or HOME_CURRENCY
        tally.amounts[currency] = tally.amounts.get(currency, ZERO) + Decimal(amount)
    return figures


def bucket_of(kind: str, status: str) -> str:
    if kind == "return":
        return "returns" if status == "matched" else "returns_open"
    if kind == "debit" or status == "ignored":
        return "ignored"
    return status if status in ("matched", "suggested", "unmatched") else "unmatched"


def totals(per_statement) -> dict[str, Tally]:
    result: dict[str, Tally] = {name: Tally() for name in BUCKETS}
    for buckets in per_statement:
        for name, tally in buckets.items():
            result[name].merge(tally)
    return result
