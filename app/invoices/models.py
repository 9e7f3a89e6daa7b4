"""Invoice, its lines, and credit notes."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    bindparam,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import ZERO, Money, TimestampMixin, UTCDateTime
from app.customers.models import Customer

# Stored statuses. "Overdue" and "due soon" are not stored: they follow from due_date.
INVOICE_STATUSES = {
    "open": _l("Open"),
    "partially_paid": _l("Partly paid"),
    "paid": _l("Paid"),
    "written_off": _l("Written off"),
    "cancelled": _l("Cancelled"),
}
OPEN_STATUSES = ("open", "partially_paid")
CREDIT_NOTE_STATUSES = {"open": _l("Open"), "allocated": _l("Allocated"),
                        "refunded": _l("Refunded"),
                        # issued by staff, waiting for someone allowed to approve its amount
                        "proposed": _l("Waiting for approval"),
                        "rejected": _l("Rejected")}


class Invoice(TimestampMixin, Model):
    __tablename__ = "invoice"
    __table_args__ = (
        Index("ix_invoice_open_due", "status", "due_date"),
        Index("ix_invoice_customer_status", "customer_id", "status"),
        # The open invoices only (a tenth of the book), with every column the staff dashboard
        # and aging figures read: those aggregations are index-only scans, per customer in
        # customer order (migrations tp_0001, tp_0002).
        Index("ix_invoice_open_cover", "customer_id", "due_date",
              postgresql_include=["open_amount"],
              postgresql_where=text("status IN ('open', 'partially_paid')"),
              sqlite_where=text("status IN ('open', 'partially_paid')")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    number: Mapped[str] = mapped_column(String(40), unique=True)  # the ERP's invoice number
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    total_amount: Mapped[Decimal] = mapped_column(Money)
    open_amount: Mapped[Decimal] = mapped_column(Money)
    # Belgian structured communication: 12 digits, shown +++123/4567/89002+++.
    structured_reference: Mapped[str] = mapped_column(String(12), unique=True)
    rf_reference: Mapped[str] = mapped_column(String(25), unique=True)
    description: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="open")
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    disputed_amount: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    dunning_blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    dunning_block_reason: Mapped[str | None] = mapped_column(Text)
    dunning_blocked_on: Mapped[date | None] = mapped_column(Date)
    dunning_blocked_by: Mapped[str | None] = mapped_column(String(100))  # staff user name
    dunning_level: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_on: Mapped[date | None] = mapped_column(Date)
    # The day the last reminder counts as received: the next level's wait counts from here.
    last_reminder_effective_on: Mapped[date | None] = mapped_column(Date)
    # Since when recovery costs and interest are claimed (first reminder with a fee).
    dunning_fees_from: Mapped[date | None] = mapped_column(Date)
    # Recovery costs and interest stated in the last reminder (claimed, not booked).
    dunning_fees: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    paid_on: Mapped[date | None] = mapped_column(Date)
    pdf_path: Mapped[str | None] = mapped_column(String(300))  # the ERP's PDF, when uploaded
    customer: Mapped[Customer] = relationship()
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="InvoiceLine.position"
    )

    def days_overdue(self, today: date) -> int:
        return max((today - self.due_date).days, 0)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def __repr__(self) -> str:
        return self.number


def invoice_is_open(column: Any = None):
    """``status IN ('open', 'partially_paid')`` (of Invoice, or of ``column``, an alias's), the
    two values written into the SQL instead of sent as parameters. PostgreSQL prepares a query
    run often (psycopg) and, once it has, plans it once for any parameters (a generic plan)
    unless that plan looks dearer than planning each run. With the statuses as parameters it
    cannot know that the partial index ix_invoice_open_cover applies, so it planned every run
    again: a per-customer page's queries spent 1.6 ms planning for 0.2 ms of work."""
    column = Invoice.status if column is None else column
    return column.in_(bindparam("invoice_open_statuses", list(OPEN_STATUSES), expanding=True,
                                literal_execute=True))


class InvoiceLine(Model):
    __tablename__ = "invoice_line"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=1)
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[Decimal] = mapped_column(Money, default=Decimal(1))
    unit_price: Mapped[Decimal] = mapped_column(Money)
    vat_rate: Mapped[Decimal] = mapped_column(Money, default=Decimal(21))
    amount: Mapped[Decimal] = mapped_column(Money)  # including VAT
    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class CreditNote(TimestampMixin, Model):
    __tablename__ = "credit_note"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    number: Mapped[str] = mapped_column(String(40), unique=True)
    issue_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    open_amount: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    customer: Mapped[Customer] = relationship()
    invoice: Mapped[Invoice | None] = relationship()

    def __repr__(self) -> str:
        return self.number
