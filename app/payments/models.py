"""Payments, their allocation to invoices, and imported bank statements."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, Numeric, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedString, iban_hash
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
# What a statement line is: money in to match, a return/reversal of money we had received, or
# money out (our own payments: nothing to match).
STATEMENT_LINE_KINDS = {"payment": _l("Money in"), "return": _l("Return or reversal"),
                        "debit": _l("Money out")}


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
    # Encrypted at rest; found through iban_hash (keyed hash of the normalised IBAN), as
    # BankAccount.iban. Kept in step by _keep_iban_hash (ORM) and app.payments.bulk (import).
    counterparty_iban: Mapped[str | None] = mapped_column(EncryptedString())
    iban_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # The ERP's or payment provider's own id: a repeated post is recognised, not booked twice.
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    statement_line_id: Mapped[int | None] = mapped_column(ForeignKey("statement_line.id"),
                                                          index=True)
    # A direct debit the debtor's bank sent back, or a credit the bank reversed: the statement
    # line that took the money back, when, and the bank's reason code (e.g. AC04, MD06).
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    return_reason: Mapped[str | None] = mapped_column(String(10))
    return_line_id: Mapped[int | None] = mapped_column(ForeignKey("statement_line.id"),
                                                       index=True)
    # When the thank-you message was queued (a big statement import queues them in a job).
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    customer: Mapped[Customer | None] = relationship()
    allocations: Mapped[list[Allocation]] = relationship(back_populates="payment")
    statement_line: Mapped[StatementLine | None] = relationship(
        foreign_keys=[statement_line_id], back_populates="payment")

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

    @property
    def undo_state(self) -> Allocation:
        """The allocation itself, for the back office column "Reversed at / Undo"."""
        return self


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
    currency: Mapped[str | None] = mapped_column(String(3))
    sequence_number: Mapped[str | None] = mapped_column(String(20))
    # Entries stored, entries already imported from another file, entries not booked (pending).
    line_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
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
    # Encrypted at rest; found through iban_hash, as Payment.counterparty_iban.
    counterparty_iban: Mapped[str | None] = mapped_column(EncryptedString())
    iban_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    counterparty_bic: Mapped[str | None] = mapped_column(String(11))
    structured_reference: Mapped[str | None] = mapped_column(String(35))
    free_text: Mapped[str | None] = mapped_column(Text)
    bank_reference: Mapped[str | None] = mapped_column(String(100))
    end_to_end_id: Mapped[str | None] = mapped_column(String(100), index=True)
    mandate_reference: Mapped[str | None] = mapped_column(String(35), index=True)
    is_reversal: Mapped[bool] = mapped_column(Boolean, default=False)
    return_reason: Mapped[str | None] = mapped_column(String(10))
    # (account, bank/entry reference, booking date, amount): files overlap, entries do not repeat.
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    match_rule: Mapped[str | None] = mapped_column(String(40))
    match_confidence: Mapped[Decimal | None] = mapped_column(Numeric(4, 3))
    kind: Mapped[str] = mapped_column(String(10), default="payment", server_default="payment")
    transaction_code: Mapped[str | None] = mapped_column(String(40))
    # Who paid: set when matched, or the customer a suggestion points to.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    # The best proposal of the matching rules, accepted in one click from the queue:
    # {"customer_id", "invoice_ids", "installment_ids", "rule", "confidence"}.
    suggestion: Mapped[dict | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)  # why it was not booked, what was returned
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    statement: Mapped[BankStatement] = relationship(back_populates="lines")
    customer: Mapped[Customer | None] = relationship()
    payment: Mapped[Payment | None] = relationship(
        foreign_keys="Payment.statement_line_id", back_populates="statement_line",
        uselist=False)

    def __repr__(self) -> str:
        return f"{self.booking_date} {self.amount} {self.counterparty_name or ''}".strip()


@event.listens_for(Payment.counterparty_iban, "set")
@event.listens_for(StatementLine.counterparty_iban, "set")
def _keep_iban_hash(target, value, _old, _initiator) -> None:
    """The lookup hash follows the payer's IBAN, whoever sets it (services, queue, demo)."""
    target.iban_hash = iban_hash(value)


class InstallmentPayment(Model):
    """The part of a payment that paid a plan instalment (so that a return can take it back)."""

    __tablename__ = "installment_payment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    installment_id: Mapped[int] = mapped_column(ForeignKey("installment.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payment: Mapped[Payment] = relationship()
    installment = relationship("Installment")
