"""The "place of yes": who may approve how much, for refunds, credit notes and write-offs.

One rule for every screen and command: ``may_approve(user, kind, amount)``. The limits are
settings (category "approvals") per kind and role; an Admin may approve any amount, a role
without a limit (Read-only, Compliance officer, ERP integration) none.

    approvals.refund.ar_clerk_max        approvals.refund.credit_manager_max
    approvals.credit_note.ar_clerk_max   approvals.credit_note.credit_manager_max
    approvals.write_off.ar_clerk_max     approvals.write_off.credit_manager_max

In core, below every package that asks it (invoices' credit notes and write-offs, payments'
refunds, requests' refund decisions, the staff screens): it needs only roles, settings and the
audit trail.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core.audit_models import AuditEvent
from app.core.i18n import money
from app.core.roles import ADMIN, AR_CLERK, CREDIT_MANAGER
from app.core.settings import get_setting, register_setting
from app.core.validation import ValidationError

KINDS = {"refund": _l("refunds"), "credit_note": _l("credit notes"),
         "write_off": _l("write-offs")}
# Role name -> the part of the setting key; roles not listed here approve nothing (but Admin).
LIMITED_ROLES = {AR_CLERK: "ar_clerk_max", CREDIT_MANAGER: "credit_manager_max"}
_DEFAULTS = {
    "refund": (Decimal("250.00"), Decimal("2500.00")),
    "credit_note": (Decimal("100.00"), Decimal("1000.00")),
    "write_off": (Decimal("50.00"), Decimal("500.00")),
}
_LABELS = {
    ("refund", AR_CLERK): _l("Largest refund an AR clerk may approve"),
    ("refund", CREDIT_MANAGER): _l("Largest refund a credit manager may approve"),
    ("credit_note", AR_CLERK): _l("Largest credit note an AR clerk may approve"),
    ("credit_note", CREDIT_MANAGER): _l("Largest credit note a credit manager may approve"),
    ("write_off", AR_CLERK): _l("Largest write-off an AR clerk may approve"),
    ("write_off", CREDIT_MANAGER): _l("Largest write-off a credit manager may approve"),
}
for _kind, (_clerk, _manager) in _DEFAULTS.items():
    register_setting(f"approvals.{_kind}.ar_clerk_max", _clerk, "money",
                     _LABELS[(_kind, AR_CLERK)], "approvals")
    register_setting(f"approvals.{_kind}.credit_manager_max", _manager, "money",
                     _LABELS[(_kind, CREDIT_MANAGER)], "approvals")


def role_names(user: Any) -> set[str]:
    return {getattr(role, "name", role) for role in (getattr(user, "roles", None) or [])}


def approval_limit(user: Any, kind: str) -> Decimal | None:
    """The largest amount ``user`` may approve for ``kind``; None means no limit (Admin)."""
    if kind not in KINDS:
        raise ValueError(f"unknown approval kind {kind!r}")
    names = role_names(user)
    if ADMIN in names:
        return None
    limits = [Decimal(str(get_setting(f"approvals.{kind}.{suffix}")))
              for role, suffix in LIMITED_ROLES.items() if role in names]
    return max(limits, default=Decimal(0))


def may_approve(user: Any, kind: str, amount: Decimal) -> bool:
    limit = approval_limit(user, kind)
    return limit is None or (limit > 0 and Decimal(amount) <= limit)


def refusal_message(user: Any, kind: str, amount: Decimal) -> str:
    limit = approval_limit(user, kind) or Decimal(0)
    if limit <= 0:
        return _("You may not approve %(kind)s.", kind=KINDS[kind])
    return _("You may approve %(kind)s up to %(limit)s; %(amount)s needs someone with a higher "
             "limit.", kind=KINDS[kind], limit=money(limit), amount=money(amount))


def check_approval(user: Any, kind: str, amount: Decimal, field: str = "amount") -> None:
    """Raise ValidationError (nothing changed) when ``user`` may not approve ``amount``."""
    if not may_approve(user, kind, amount):
        raise ValidationError({field: refusal_message(user, kind, amount)})


def audit_decision(user: Any, action: str, entity: str, entity_id: Any, customer_id: int | None,
                   detail: str) -> None:
    """One audit event for a proposal or decision (who, what, how much; no personal data)."""
    from flask import has_request_context, request

    from app.extensions import db

    db.session.add(AuditEvent(
        actor_type="staff" if user is not None else "job",
        actor=getattr(user, "username", None) or (None if user is None else str(user)),
        ip=request.remote_addr if has_request_context() else None, action=action[:20],
        entity=entity, entity_id=str(entity_id), customer_id=customer_id,
        changed_fields=["status"], detail=detail))
