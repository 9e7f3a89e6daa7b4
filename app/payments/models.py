"""Payments, their allocation to invoices, and imported bank statements."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Date, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import ZERO, Money, TimestampMixin, UTCDateTime, utcnow
from app.customers.models import Customer
from app.invoices.models import CreditNote, Invoice

PAYMENT_METHODS = {"transfer": _l("Bank transfer"), "direct_debit": _l("Direct debit"),
                   "online": _l("Online payment"), "cash": _l("Cash"), "other": _l("Other")}
PAYMENT_STATUSES = {"unmatched": _l("Unmatched"), "partially_allocated": _l("Partly allocated"),
                    "allocated": _l("Allocated"), "returned": _l("Returned")}
STATEMENT_LINE_STATUSES = {"new": _l("New"), "matched": _l("Matched"),
                           "suggested": _l("Suggested"), "unmatched": _l("Unmatched"),
                           "ignored": _l("Ignored"), "duplicate": _l("Duplicate")}


class Payment(TimestampMixin, Model):
    __tablename__ = "payment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    received_on: Mapped[date] = mapped_column(Date, index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    unallocated_amount: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    method: Mapped[str] = mapped_column(String(20), default="transfer")
    status: Mapped[str] = mapped_column(String(20), default="unmatched")
    communication: Mapped[str | None] = mapped_column(String(200))
    counterparty_name: Mapped[str | None] = mapped_column(String(200))
    counterparty_iban: Mapped[str | None] = mapped_column(String(34))
    # The ERP's or payment provider's own id: a repeated post is recognised, not booked twice.
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    statement_line_id: Mapped[int | None] = mapped_column(ForeignKey("statement_line.id"))
    customer: Mapped[Customer | None] = relationship()
    allocations: Mapped[list[Allocation]] = relationship(back_populates="payment")

    def __repr__(self) -> str:
        return f"{self.received_on} {self.amount}"


class Allocation(Model):
    """Part of a payment (or credit note) applied to an invoice; undone by setting reversed_at."""

    __tablename__ = "allocation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), index=True)
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("credit_note.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    rule: Mapped[str] = mapped_column(String(40), default="manual")
    confidence: Mapped[Decimal | None] = mapped_column(Numeric(4, 3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reversal_reason: Mapped[str | None] = mapped_column(Text)
    payment: Mapped[Payment | None] = relationship(back_populates="allocations")
    credit_note: Mapped[CreditNote | None] = relationship()
    invoice: Mapped[Invoice] = relationship()


class BankStatement(Model):
    __tablename__ = "bank_statement"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    format: Mapped[str] = mapped_column(String(20))  # camt.053.001.08, coda2, ...
    account_iban: Mapped[str | None] = mapped_column(String(34))
    statement_ref: Mapped[str | None] = mapped_column(String(100))
    from_date: Mapped[date | None] = mapped_column(Date)
    to_date: Mapped[date | None] = mapped_column(Date)
    opening_balance: Mapped[Decimal | None] = mapped_column(Money)
    closing_balance: Mapped[Decimal | None] = mapped_column(Money)
    file_name: Mapped[str | None] = mapped_column(String(200))
    file_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    lines: Mapped[list[StatementLine]] = relationship(back_populates="statement")

    def __repr__(self) -> str:
        return f"{self.account_iban} {self.statement_ref}"


class StatementLine(Model):
    __tablename__ = "statement_line"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("bank_statement.id"), index=True)
    booking_date: Mapped[date] = mapped_column(Date)
    value_date: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)  # positive = credit, negative = debit
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    counterparty_name: Mapped[str | None] = mapped_column(String(200))
    counterparty_iban: Mapped[str | None] = mapped_column(String(34))
    counterparty_bic: Mapped[str | None] = mapped_column(String(11))
    structured_reference: Mapped[str | None] = mapped_column(String(35))
    free_text: Mapped[str | None] = mapped_column(Text)
    bank_reference: Mapped[str | None] = mapped_column(String(100))
    end_to_end_id: Mapped[str | None] = mapped_column(String(100))
    mandate_reference: Mapped[str | None] = mapped_column(String(35))
    is_reversal: Mapped[bool] = mapped_column(Boolean, default=False)
    return_reason: Mapped[str | None] = mapped_column(String(10))
    # (account, bank/entry reference, booking date, amount): files overlap, entries do not repeat.
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    match_rule: Mapped[str | None] = mapped_column(String(40))
    match_confidence: Mapped[Decimal | None] = mapped_column(Numeric(4, 3))
    statement: Mapped[BankStatement] = relationship(back_populates="lines")
