"""Money going out or not coming in: direct-debit collections, refunds, write-offs.

- ``CollectionBatch`` is one pain.008 file with one payment information block (one sequence
  type, one collection date, one scheme); its ``CollectionItem`` rows are the invoices it
  collects. Items of the same mandate share one transaction (one end-to-end id).
- ``CreditTransferBatch`` is one pain.001 file of approved ``Refund`` rows.
- ``WriteOff`` is an invoice amount given up, with its reason and who approved it.
The rules are in app.payments.outgoing.direct_debit, app.payments.outgoing.refunds and app.payments.outgoing.adjustments.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedString
from app.core.locking import unique_where
from app.core.models import ZERO, Money, TimestampMixin, UTCDateTime
from app.customers.models import BankAccount, Customer, Mandate
from app.invoices.models import Invoice

SEQUENCE_TYPES = {"FRST": _l("First collection"), "RCUR": _l("Recurrent collection"),
                  "OOFF": _l("One-off collection")}
COLLECTION_BATCH_STATUSES = {"prepared": _l("Prepared"), "exported": _l("Sent to the bank"),
                             "cancelled": _l("Cancelled")}
REFUND_STATUSES = {"proposed": _l("Proposed"), "approved": _l("Approved"),
                   "exported": _l("In a transfer file"), "paid": _l("Paid"),
                   "rejected": _l("Rejected")}
REFUND_SOURCES = {"credit_balance": _l("Credit balance"), "request": _l("Customer request"),
                  "manual": _l("Entered by staff")}
WRITE_OFF_STATUSES = {"proposed": _l("Proposed"), "approved": _l("Approved"),
                      "rejected": _l("Rejected")}


class CollectionBatch(TimestampMixin, Model):
    __tablename__ = "collection_batch"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str | None] = mapped_column(String(35), unique=True)
    payment_info_id: Mapped[str | None] = mapped_column(String(35), unique=True)
    collection_date: Mapped[date] = mapped_column(Date, index=True)
    sequence_type: Mapped[str] = mapped_column(String(4))
    scheme: Mapped[str] = mapped_column(String(4), default="CORE")
    creditor_id: Mapped[str] = mapped_column(String(35))
    status: Mapped[str] = mapped_column(String(10), default="prepared", index=True)
    transaction_count: Mapped[int] = mapped_column(Integer, default=0)
    total_amount: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The file as it was handed to the bank (kept: what was sent is what is matched).
    file_xml: Mapped[str | None] = mapped_column(Text)
    items: Mapped[list[CollectionItem]] = relationship(back_populates="batch",
                                                       order_by="CollectionItem.id")

    def __repr__(self) -> str:
        return self.payment_info_id or f"{self.sequence_type} {self.collection_date}"


class CollectionItem(Model):
    """One invoice collected in a batch; the transaction is the items sharing end_to_end_id."""

    __tablename__ = "collection_item"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("collection_batch.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    mandate_id: Mapped[int] = mapped_column(ForeignKey("mandate.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    end_to_end_id: Mapped[str] = mapped_column(String(35), index=True)
    batch: Mapped[CollectionBatch] = relationship(back_populates="items")
    invoice: Mapped[Invoice] = relationship()
    customer: Mapped[Customer] = relationship()
    mandate: Mapped[Mandate] = relationship()


class CreditTransferBatch(TimestampMixin, Model):
    __tablename__ = "credit_transfer_batch"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str | None] = mapped_column(String(35), unique=True)
    execution_date: Mapped[date] = mapped_column(Date)
    transaction_count: Mapped[int] = mapped_column(Integer, default=0)
    total_amount: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    file_xml: Mapped[str | None] = mapped_column(Text)
    refunds: Mapped[list[Refund]] = relationship(back_populates="batch", order_by="Refund.id")

    def __repr__(self) -> str:
        return self.message_id or str(self.id)


class Refund(TimestampMixin, Model):
    """Money paid back to a customer. The account is read at approval and checked again at
    export: an account that changed in between blocks the export (fraud path)."""

    __tablename__ = "refund"
    # One live refund per customer request (app/core/locking.py guards the decision).
    __table_args__ = (unique_where("uq_refund_request", "request_id",
                                   where="request_id IS NOT NULL AND status <> 'rejected'"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    status: Mapped[str] = mapped_column(String(10), default="proposed", index=True)
    source: Mapped[str] = mapped_column(String(20), default="manual")
    request_id: Mapped[int | None] = mapped_column(ForeignKey("customer_request.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    bank_account_id: Mapped[int | None] = mapped_column(ForeignKey("bank_account.id"))
    # Copied from the account at approval (encrypted at rest like BankAccount.iban).
    iban: Mapped[str | None] = mapped_column(EncryptedString())
    bic: Mapped[str | None] = mapped_column(String(11))
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("credit_transfer_batch.id"),
                                                 index=True)
    end_to_end_id: Mapped[str | None] = mapped_column(String(35), index=True)
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Which credits the refund used up: [{"payment_id": 3, "amount": "12.50"}, ...].
    consumed: Mapped[list | None] = mapped_column(JSON)
    customer: Mapped[Customer] = relationship()
    bank_account: Mapped[BankAccount | None] = relationship()
    batch: Mapped[CreditTransferBatch | None] = relationship(back_populates="refunds")
    approved_by = relationship("User", foreign_keys=[approved_by_id])

    def __repr__(self) -> str:
        return f"{self.customer_id} {self.amount}"


class WriteOff(TimestampMixin, Model):
    __tablename__ = "write_off"
    # One write-off waiting for approval per invoice.
    __table_args__ = (unique_where("uq_write_off_proposed_invoice", "invoice_id",
                                   where="status = 'proposed'"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="proposed", index=True)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    invoice: Mapped[Invoice] = relationship()
    customer: Mapped[Customer] = relationship()
    approved_by = relationship("User", foreign_keys=[approved_by_id])

    def __repr__(self) -> str:
        return f"{self.invoice_id} {self.amount}"
