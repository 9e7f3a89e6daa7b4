"""The audit trail's table: who did what to which record, from where (written by
app/core/audit.py; shown by app/retention/audit_views.py, purged and exported by app/retention).

Below every domain package, because every layer writes to it: booking a payment, a customer's
API key, a pay link's refusal. The table keeps its name (``audit_event``)."""
from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import UTCDateTime, utcnow

ACTOR_TYPES = {"staff": _l("Staff"), "customer": _l("Customer"), "api": _l("API"),
               "job": _l("Job"), "cli": _l("Command line"), "anonymous": _l("Not logged in"),
               "system": _l("System")}
AUDIT_ACTIONS = {"create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted"),
                 "view": _l("Viewed"), "export": _l("Exported"),
                 "bulk_insert": _l("Created (in bulk)"), "bulk_update": _l("Changed (in bulk)"),
                 "bulk_delete": _l("Deleted (in bulk)"), "manual_match": _l("Matched by hand"),
                 "undo": _l("Allocation undone")}


class AuditEvent(Model):
    """Who did what to which record, from where; values of personal fields are never copied."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str | None] = mapped_column(String(100))
    ip: Mapped[str | None] = mapped_column(String(45))
    action: Mapped[str] = mapped_column(String(20))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(40))
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    changed_fields: Mapped[list] = mapped_column(JSON, default=list)
    detail: Mapped[str | None] = mapped_column(Text)
