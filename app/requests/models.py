"""Customer requests and what they create: payment plans, deferrals, disputes, attachments."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Column, Date, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.locking import unique_where
from app.core.models import ZERO, Money, TimestampMixin, UTCDateTime, utcnow
from app.customers.models import Customer
from app.invoices.models import Invoice

REQUEST_KINDS = {
    "deferral": _l("Deferral"),
    "payment_plan": _l("Payment plan"),
    "dispute": _l("Dispute"),
    "data_change": _l("Change of details"),
    "bank_account": _l("Refund bank account"),
    "refund": _l("Refund"),
    "mandate": _l("Direct debit mandate"),
    "preferences": _l("Preferences"),
    "access": _l("Access to my data"),
    "erasure": _l("Erasure of my data"),
    "question": _l("Question"),
}
REQUEST_STATUSES = {
    "received": _l("Received"),
    "in_review": _l("In review"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "closed": _l("Closed"),
    "cancelled": _l("Cancelled"),
    "withdrawn": _l("Withdrawn"),
}
REQUEST_CHANNELS = {"portal": _l("Portal"), "staff": _l("Staff"), "api": _l("API"),
                    "email": _l("E-mail"),  # a customer's e-mail reply (app.inbound)
                    "peppol": _l("Peppol")}  # the buyer's invoice response (app.einvoicing)
PLAN_STATUSES = {"proposed": _l("Proposed"), "active": _l("Active"), "completed": _l("Completed"),
                 "broken": _l("Broken"), "cancelled": _l("Cancelled")}
INSTALLMENT_STATUSES = {"due": _l("Due"), "paid": _l("Paid"), "late": _l("Late")}
DEFERRAL_STATUSES = {"active": _l("Active"), "kept": _l("Kept"), "broken": _l("Broken"),
                     "cancelled": _l("Cancelled")}
DISPUTE_STATUSES = {"open": _l("Open"), "upheld": _l("Resolved in the customer's favour"),
                    "rejected": _l("Rejected"), "withdrawn": _l("Withdrawn")}
DISPUTE_REASONS = {
    "not_received": _l("Goods or service not received"),
    "wrong_amount": _l("Wrong amount"),
    "already_paid": _l("Already paid"),
    "quality": _l("Quality problem"),
    "not_mine": _l("Not my invoice"),
    "other": _l("Other"),
}

request_invoice = Table(
    "request_invoice",
    Model.metadata,
    Column("request_id", ForeignKey("customer_request.id"), primary_key=True),
    Column("invoice_id", ForeignKey("invoice.id"), primary_key=True),
)
plan_invoice = Table(
    "plan_invoice",
    Model.metadata,
    Column("plan_id", ForeignKey("payment_plan.id"), primary_key=True),
    Column("invoice_id", ForeignKey("invoice.id"), primary_key=True),
)


class CustomerRequest(TimestampMixin, Model):
    __tablename__ = "customer_request"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)
    channel: Mapped[str] = mapped_column(String(10), default="portal")
    subject: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    # Which self-service rule sent this request to staff, told to the customer.
    referral_reason: Mapped[str | None] = mapped_column(Text)
    # The same as codes with their figures ([{"code": "amount_above_limit", "amount": ...}]),
    # rendered in the reader's language (app/requests/reasons.py); the text above is the
    # fallback for rows written before the codes.
    referral_codes: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    # A subject written by the system as a code with figures, rendered at display the same way.
    subject_code: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    satisfaction_score: Mapped[int | None] = mapped_column(Integer)
    satisfaction_comment: Mapped[str | None] = mapped_column(Text)
    satisfaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    customer: Mapped[Customer] = relationship()
    invoices: Mapped[list[Invoice]] = relationship(secondary=request_invoice)
    attachments: Mapped[list[Attachment]] = relationship(back_populates="request",
                                                         cascade="all, delete-orphan")
    assignee = relationship("User", foreign_keys=[assignee_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])
    comments: Mapped[list[RequestComment]] = relationship(
        back_populates="request", cascade="all, delete-orphan",
        order_by="RequestComment.created_at, RequestComment.id")

    def __repr__(self) -> str:
        return f"#{self.id} {self.kind}"

    # For the generic list/show screens: rendered in the reader's language, not stored text.
    def shown_subject(self) -> str:
        from app.requests.reasons import subject_text

        return subject_text(self)

    def shown_reasons(self) -> str:
        from app.requests.reasons import reasons_text

        return "\n".join(reasons_text(self))

    def shown_details(self) -> str:
        from app.requests.payload_details import details

        return "; ".join(f"{label}: {value}"
                         for label, value in details(self.payload, DISPUTE_REASONS))


COMMENT_AUTHORS = {"customer": _l("Customer"), "staff": _l("Staff")}


class RequestComment(Model):
    """One message in a request's conversation: the customer (portal) or staff (admin)."""

    __tablename__ = "request_comment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("customer_request.id"), index=True)
    author: Mapped[str] = mapped_column(String(10))  # "customer" or "staff"
    user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))  # staff author
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    request: Mapped[CustomerRequest] = relationship(back_populates="comments")
    user = relationship("User", foreign_keys=[user_id])


class Attachment(Model):
    """A file a customer sent with a request; stored outside the web root under UPLOAD_DIR."""

    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("customer_request.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_path: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    request: Mapped[CustomerRequest] = relationship(back_populates="attachments")


class PaymentPlan(TimestampMixin, Model):
    __tablename__ = "payment_plan"
    # One plan per request, however many staff approve it at once (app/core/locking.py).
    __table_args__ = (unique_where("uq_payment_plan_request", "request_id",
                                   where="request_id IS NOT NULL AND status <> 'cancelled'"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("customer_request.id"))
    status: Mapped[str] = mapped_column(String(20), default="proposed", index=True)
    total_amount: Mapped[Decimal] = mapped_column(Money)
    installment_count: Mapped[int] = mapped_column(Integer)
    day_of_month: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)
    broken_on: Mapped[date | None] = mapped_column(Date)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    customer: Mapped[Customer] = relationship()
    invoices: Mapped[list[Invoice]] = relationship(secondary=plan_invoice)
    installments: Mapped[list[Installment]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="Installment.sequence"
    )

    def __repr__(self) -> str:
        return f"#{self.id} {self.customer_id}"


class Installment(Model):
    __tablename__ = "installment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("payment_plan.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_amount: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    structured_reference: Mapped[str] = mapped_column(String(12), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="due")
    plan: Mapped[PaymentPlan] = relationship(back_populates="installments")


class Deferral(TimestampMixin, Model):
    """A promise to pay one invoice by a new date; reminders wait until then."""

    __tablename__ = "deferral"
    # One deferral per invoice of a request: an approval taken twice makes none twice.
    __table_args__ = (unique_where("uq_deferral_request_invoice", "request_id", "invoice_id",
                                   where="request_id IS NOT NULL"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("customer_request.id"))
    original_due_date: Mapped[date] = mapped_column(Date)
    new_due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="active", index=True)
    customer: Mapped[Customer] = relationship()
    invoice: Mapped[Invoice] = relationship()


class Dispute(TimestampMixin, Model):
    """A contested invoice (or part of it); reminders stop for the disputed amount while open."""

    __tablename__ = "dispute"
    __table_args__ = (unique_where("uq_dispute_request", "request_id",
                                   where="request_id IS NOT NULL"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("customer_request.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(String(20), default="other")
    text: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    customer: Mapped[Customer] = relationship()
    invoice: Mapped[Invoice] = relationship()
