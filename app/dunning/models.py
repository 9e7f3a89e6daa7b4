"""Dunning policies, their ordered levels, daily runs and the actions they took."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import ZERO, Money, TimestampMixin, UTCDateTime, utcnow

SEGMENTS = {"consumer": _l("Consumers"), "business": _l("Businesses")}
TONES = {
    "pre_due": _l("Friendly pre-due notice"),
    "friendly": _l("Friendly reminder"),
    "firm": _l("Firm reminder"),
    "formal_notice": _l("Formal notice"),
    "collection": _l("Hand-over to collection agency"),
}
FEE_RULES = {
    "none": _l("No fee"),
    "be_consumer": _l("Belgian consumers (Code of Economic Law, Book XIX)"),
    "b2b_late_payment": _l("Businesses: €40 recovery costs and late-payment interest"),
    "fr_business": _l("French businesses: €40 indemnity and penalties of at least 3× the legal "
                      "rate"),
    "nl_consumer": _l("Dutch consumers (statutory collection cost scale)"),
    "fixed": _l("Fixed amount per reminder"),
}
# What "days" of a level count from.
DAY_BASES = {"due": _l("the due date"), "previous": _l("the previous reminder")}
RUN_STATUSES = {"running": _l("Running"), "done": _l("Done"), "failed": _l("Failed")}
RATE_KINDS = {"ecb": _l("ECB reference rate"), "fr_legal": _l("French legal interest rate")}
HANDOVER_STATUSES = {"pending": _l("Waiting to be handed over"), "done": _l("Handed over"),
                     "failed": _l("Hand-over failed (retried at the next run)"),
                     "cancelled": _l("Not handed over (legal status changed)")}


class DunningPolicy(TimestampMixin, Model):
    __tablename__ = "dunning_policy"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    segment: Mapped[str] = mapped_column(String(10), default="consumer")
    country: Mapped[str | None] = mapped_column(String(2))  # None = any country
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(Text)
    levels: Mapped[list[DunningLevel]] = relationship(
        back_populates="policy", cascade="all, delete-orphan", order_by="DunningLevel.sequence"
    )

    def __repr__(self) -> str:
        return _shown(self.name)


def _shown(name: str | None) -> str:
    """Shipped names in the reader's language (lists and drop-downs show models by repr)."""
    from app.dunning.shipped_names import shipped_name

    return shipped_name(name)


class DunningLevel(Model):
    __tablename__ = "dunning_level"
    __table_args__ = (UniqueConstraint("policy_id", "sequence"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("dunning_policy.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    # Negative for pre-due notices (e.g. -3 = three days before the due date).
    days_after_due: Mapped[int] = mapped_column(Integer, default=0)
    # "due": days_after_due counts from the due date; "previous": from the previous reminder.
    days_basis: Mapped[str] = mapped_column(String(10), default="due")
    # An optional step (the pre-due notice) ships switched off; staff switch it on.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    min_days_since_previous: Mapped[int] = mapped_column(Integer, default=14)
    min_amount: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    tone: Mapped[str] = mapped_column(String(20), default="friendly")
    channels: Mapped[str] = mapped_column(String(60), default="email")  # comma-separated
    template_key: Mapped[str] = mapped_column(String(60))
    fee_rule: Mapped[str] = mapped_column(String(20), default="none")
    fee_amount: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    policy: Mapped[DunningPolicy] = relationship(back_populates="levels")

    def __repr__(self) -> str:
        return f"{_shown(self.policy.name) if self.policy else ''} {self.sequence}. {_shown(self.name)}"


class DunningRun(Model):
    __tablename__ = "dunning_run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_date: Mapped[date] = mapped_column(Date, index=True)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(10), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    triggered_by: Mapped[str | None] = mapped_column(String(100))
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    actions: Mapped[list[DunningAction]] = relationship(back_populates="run")


class DunningAction(Model):
    """One customer's reminder in one run: the level, the invoices, the fees, and why."""

    __tablename__ = "dunning_action"
    __table_args__ = (UniqueConstraint("run_date", "customer_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("dunning_run.id"), index=True)
    run_date: Mapped[date] = mapped_column(Date)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    level_id: Mapped[int] = mapped_column(ForeignKey("dunning_level.id"))
    invoice_ids: Mapped[list] = mapped_column(JSON, default=list)
    amount_due: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    fee_amount: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    explanation: Mapped[dict] = mapped_column(JSON, default=dict)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    message_ids: Mapped[list] = mapped_column(JSON, default=list)  # one per channel
    channels: Mapped[str] = mapped_column(String(60), default="")
    # The day the reminder counts as received (e-mail: the next day; letter: the third working
    # day after posting). Waiting periods before the next level count from here.
    effective_on: Mapped[date | None] = mapped_column(Date)
    # Last level: the hand-over to a collection agency, done after the run's commit.
    handover_status: Mapped[str | None] = mapped_column(String(10))
    handover_plugin: Mapped[str | None] = mapped_column(String(100))
    handover_reference: Mapped[str | None] = mapped_column(String(200))
    handover_error: Mapped[str | None] = mapped_column(Text)
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    run: Mapped[DunningRun] = relationship(back_populates="actions")
    customer = relationship("Customer")
    level: Mapped[DunningLevel] = relationship()
    lines: Mapped[list[DunningActionInvoice]] = relationship(
        back_populates="action", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"{self.run_date} {_shown(self.level.name) if self.level else ''}"


class DunningActionInvoice(Model):
    """One invoice listed in a reminder: shown on the invoice's page ("reminders sent")."""

    __tablename__ = "dunning_action_invoice"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("dunning_action.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    run_date: Mapped[date] = mapped_column(Date)
    level_sequence: Mapped[int] = mapped_column(Integer)  # the invoice's own level after the run
    advanced: Mapped[bool] = mapped_column(Boolean, default=False)  # reached a new level
    days_late: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    fees: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    action: Mapped[DunningAction] = relationship(back_populates="lines")
    invoice = relationship("Invoice")


class ReferenceRate(Model):
    """Interest reference rates staff keep up to date (ECB rate per half year, French legal rate)."""

    __tablename__ = "reference_rate"
    __table_args__ = (UniqueConstraint("kind", "valid_from"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), default="ecb")
    valid_from: Mapped[date] = mapped_column(Date)
    rate: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    note: Mapped[str | None] = mapped_column(String(200))
