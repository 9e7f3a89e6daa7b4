"""Payments and their allocation to invoices: what every way money comes in shares.

Bank statements and their lines are money in by bank transfer: app.payments.incoming.models.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, Integer, Numeric, String, Text, event, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedString, iban_hash
from app.core.models import ZERO, Money, TimestampMixin, UTCDateTime, utcnow
from app.customers.models import Customer
from app.customers.services import register_unallocated_money
from app.extensions import db
from app.invoices.models import CreditNote, Invoice
from app.invoices.services import register_paid_amount

if TYPE_CHECKING:
    from app.payments.incoming.models import StatementLine

PAYMENT_METHODS = {"transfer": _l("Bank transfer"), "direct_debit": _l("Direct debit"),
                   "online": _l("Online payment"), "cash": _l("Cash"), "other": _l("Other")}
PAYMENT_STATUSES = {"unmatched": _l("Unmatched"), "partially_allocated": _l("Partly allocated"),
                    "allocated": _l("Allocated"), "returned": _l("Returned")}



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
    # BankAccount.iban. Kept in step by keep_iban_hash (ORM) and app.payments.incoming.bulk (import).
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


@event.listens_for(Payment.counterparty_iban, "set")
def keep_iban_hash(target, value, _old, _initiator) -> None:
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


def _unallocated_money(of_customer):
    """What customers paid and no invoice has taken yet, for customers.services.balance_parts.
    Money received in another currency is not a euro credit (issue 15): never added here."""
    return select(func.coalesce(func.sum(Payment.unallocated_amount), 0)).where(
        of_customer(Payment.customer_id), Payment.status != "returned",
        Payment.unallocated_amount > 0, Payment.currency == "EUR")


register_unallocated_money(_unallocated_money)


def _paid_on_invoice(invoice_id: int) -> Decimal:
    """The money allocated to one invoice and not reversed, for invoices.services."""
    total = db.session.scalar(select(func.coalesce(func.sum(Allocation.amount), 0)).where(
        Allocation.invoice_id == invoice_id, Allocation.reversed_at.is_(None)))
    return Decimal(total or 0)


register_paid_amount(_paid_on_invoice)
