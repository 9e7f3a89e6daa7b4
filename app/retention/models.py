"""Retention rules, legal holds, purge runs with their tombstones (the audit trail's table is
app/core/audit_models.py)."""
from __future__ import annotations

from datetime import date, datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import UTCDateTime, utcnow
from app.core.portal_access import PortalAccess
from app.customers.models import Mandate
from app.customers.selfservice_models import EmailChange
from app.dunning.models import DunningAction
from app.einvoicing.models import EDocument
from app.inbound.models import InboundMessage
from app.payments.outgoing.models import Refund

COUNTS_FROM = {"relationship_end": _l("End of the customer relationship"),
               "document_date": _l("Document date"), "closure": _l("Closure")}
RETENTION_ACTIONS = {"delete": _l("Delete"), "anonymise": _l("Anonymise")}


class RetentionRule(Model):
    __tablename__ = "retention_rule"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(40), unique=True)
    period_months: Mapped[int] = mapped_column(Integer)
    counts_from: Mapped[str] = mapped_column(String(20), default="relationship_end")
    action: Mapped[str] = mapped_column(String(10), default="delete")
    # The legal basis shown on screen and told to customers, in English, French and Dutch.
    legal_basis: Mapped[str | None] = mapped_column(Text)
    legal_basis_fr: Mapped[str | None] = mapped_column(Text)
    legal_basis_nl: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def basis_in(self, language: str) -> str:
        """The legal basis in ``language`` (English when that one is empty)."""
        text = {"fr": self.legal_basis_fr, "nl": self.legal_basis_nl}.get(language)
        return text or self.legal_basis or ""

    def __repr__(self) -> str:
        return self.category


class LegalHold(Model):
    __tablename__ = "legal_hold"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    customer = relationship("Customer")


class RetentionRun(Model):
    __tablename__ = "retention_run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=True)
    # running, done, failed, or interrupted (its process died: no heartbeat for a while)
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    triggered_by: Mapped[str | None] = mapped_column(String(100))
    # Per category: {"action", "records", "subjects", "samples": [record ids]}.
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    # The day the periods are counted back from; a real run approved from a dry run keeps the
    # dry run's day, so that it purges what the officer saw (minus any new legal hold).
    as_of: Mapped[date | None] = mapped_column(Date)
    source_run_id: Mapped[int | None] = mapped_column(ForeignKey("retention_run.id"))
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Files (paths under UPLOAD_DIR) whose rows were purged but that are not deleted yet:
    # deleted after the commit, retried by the next run.
    pending_files: Mapped[list] = mapped_column(JSON, default=list)
    longest_transaction_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    # Refreshed with each committed batch: a "running" run that stopped beating was killed.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    tombstones: Mapped[list[RetentionTombstone]] = relationship(back_populates="run")

    def __repr__(self) -> str:
        return f"#{self.id}"


class RetentionTombstone(Model):
    """What a purge did to one subject, without personal data, so it can be replayed."""

    __tablename__ = "retention_tombstone"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("retention_run.id"), index=True)
    subject: Mapped[str] = mapped_column(String(60), index=True)  # e.g. "customer:123"
    category: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(10))
    # What was done, per category: {"contacts": {"action": "delete", "before": "2020-01-31"}}
    # ("before": only records dated before that day; null: all of the subject's records).
    categories: Mapped[dict] = mapped_column(JSON, default=dict)
    executed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    run: Mapped[RetentionRun] = relationship(back_populates="tombstones")


# Indexes on the foreign keys that point at rows the purge deletes (contacts, bank accounts,
# messages), declared here because the purge is why they exist (migration purge_0001). Without
# one, every batch that deletes such rows scans the whole referencing table: for the purge's own
# "lose the pointer" UPDATE (categories.detach) and for the foreign key's check on DELETE.
PURGE_FK_INDEXES = [
    Index("ix_portal_access_contact_id", PortalAccess.contact_id),
    Index("ix_email_change_contact_id", EmailChange.contact_id),
    Index("ix_mandate_bank_account_id", Mandate.bank_account_id),
    Index("ix_refund_bank_account_id", Refund.bank_account_id),
    Index("ix_dunning_action_message_id", DunningAction.message_id),
    Index("ix_e_document_message_id", EDocument.message_id),
    Index("ix_inbound_message_answer_id", InboundMessage.answer_id),
]
