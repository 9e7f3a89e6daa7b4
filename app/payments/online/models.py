"""An online checkout: what a customer set out to pay through a payment provider (PSP)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import Money, TimestampMixin, UTCDateTime
from app.customers.models import Customer
from app.payments.models import Payment

CHECKOUT_STATUSES = {"created": _l("Waiting for payment"), "paid": _l("Paid"),
                     "failed": _l("Failed"), "expired": _l("Expired"),
                     "cancelled": _l("Cancelled")}
FINAL_STATUSES = ("paid", "failed", "expired", "cancelled")


class OnlineCheckout(TimestampMixin, Model):
    __tablename__ = "online_checkout"
    __table_args__ = (UniqueConstraint("provider", "provider_id",
                                       name="uq_online_checkout_provider_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    provider: Mapped[str] = mapped_column(String(100))          # the plugin's name
    provider_id: Mapped[str | None] = mapped_column(String(100))  # e.g. Mollie's tr_xxx
    checkout_url: Mapped[str | None] = mapped_column(String(500))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    description: Mapped[str | None] = mapped_column(String(200))
    # What the customer chose to pay, per invoice: [{"id": 12, "amount": "70.00"}, ...]; the
    # amounts leave out disputed parts, and the booking follows them.
    invoices: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="created", index=True)
    # The provider's own word for the status, as last fetched (open, pending, paid, ...).
    provider_status: Mapped[str | None] = mapped_column(String(20))
    # Provider-side state a simulated provider keeps (the demo provider); real PSPs keep theirs.
    provider_data: Mapped[dict | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)  # why not booked as expected (for staff)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), index=True)
    customer: Mapped[Customer] = relationship()
    payment: Mapped[Payment | None] = relationship()

    @property
    def invoice_ids(self) -> list[int]:
        return [int(part["id"]) for part in self.invoices or []]

    def __repr__(self) -> str:
        return f"{self.provider} {self.provider_id or self.id} {self.amount}"
