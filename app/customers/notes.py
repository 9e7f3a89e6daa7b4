"""What staff record on a customer from the 360° page: notes, phone calls, reminder pauses.

Each function validates, changes the session and returns the CustomerNote; the caller commits.
A pause sets Customer.dunning_paused_until / dunning_pause_reason (the dunning run skips the
customer until then) and leaves a "pause" row on the timeline saying who paused and why.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core import validation as v
from app.core.settings import get_setting, register_setting
from app.core.time import business_today
from app.customers.models import CALL_DIRECTIONS, CALL_OUTCOMES, Customer, CustomerNote
from app.extensions import db

register_setting("customers.max_pause_days", 90, "days",
                 _l("Longest reminder pause staff may set for a customer (days)"), "dunning")
MAX_TEXT = 4000


def _by(user: Any) -> dict:
    name = getattr(user, "username", None) or (str(user) if user is not None else None)
    return {"user_id": getattr(user, "id", None), "user_name": (name or "")[:100] or None}


def add_note(customer: Customer, user: Any, data: Mapping[str, Any]) -> CustomerNote:
    errors = v.Errors()
    text = v.text(data, "text", errors, required=True, max_length=MAX_TEXT)
    errors.raise_if_any()
    note = CustomerNote(customer_id=customer.id, kind="note", text=text, **_by(user))
    db.session.add(note)
    return note


def log_call(customer: Customer, user: Any, data: Mapping[str, Any]) -> CustomerNote:
    errors = v.Errors()
    direction = v.choice(data, "call_direction", errors, CALL_DIRECTIONS, default="outbound")
    outcome = v.choice(data, "call_outcome", errors, CALL_OUTCOMES, default="reached")
    text = v.text(data, "text", errors, required=True, max_length=MAX_TEXT)
    errors.raise_if_any()
    note = CustomerNote(customer_id=customer.id, kind="call", text=text,
                        call_direction=direction, call_outcome=outcome, **_by(user))
    db.session.add(note)
    return note


def pause_dunning(customer: Customer, user: Any, data: Mapping[str, Any],
                  today: date | None = None) -> CustomerNote:
    """Pause reminders until a date, with a reason; both are required."""
    today = today or business_today()
    errors = v.Errors()
    reason = v.text(data, "reason", errors, required=True, max_length=MAX_TEXT)
    until = v.a_date(data, "paused_until", errors, required=True)
    longest = int(get_setting("customers.max_pause_days"))
    if until is not None:
        if until <= today:
            errors.add("paused_until", _("The end of the pause must be after today."))
        elif until > today + timedelta(days=longest):
            errors.add("paused_until", _("A pause may last at most %(days)s days.", days=longest))
    errors.raise_if_any()
    customer.dunning_paused_until = until
    customer.dunning_pause_reason = reason
    note = CustomerNote(customer_id=customer.id, kind="pause", text=reason, paused_until=until,
                        **_by(user))
    db.session.add(note)
    return note


def end_pause(customer: Customer, user: Any) -> CustomerNote | None:
    """Resume reminders now (the pause stays on the timeline, with who ended it)."""
    if customer.dunning_paused_until is None:
        return None
    customer.dunning_paused_until = None
    customer.dunning_pause_reason = None
    note = CustomerNote(customer_id=customer.id, kind="note", text=_("Reminders resumed."),
                        **_by(user))
    db.session.add(note)
    return note
