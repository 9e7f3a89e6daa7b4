"""A request's details (its payload) as (label, value) rows in the reader's language: the
decision page and the generic request screens show the same rows."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core.i18n import day, money

# Payload keys shown elsewhere on the page (invoices table, reasons, mandate block).
_SHOWN_ELSEWHERE = {"invoice_ids", "invoice_id", "invoice_number", "refused_rules", "mandate_id"}
DETAIL_LABELS = {
    "new_due_date": _l("New due date asked for"),
    "total": _l("Total concerned"),
    "amount": _l("Amount"),
    "installment_count": _l("Instalments"),
    "day_of_month": _l("Day of the month"),
    "reason": _l("Reason"),
    "action": _l("Action"),
    "fields": _l("Fields changed"),
    "format": _l("Format"),
    "bank_account_id": _l("Bank account"),
    "iban_last4": _l("Account ending in"),
    "override": _l("Rules bypassed by staff"),
}
_MONEY_KEYS = {"total", "amount"}
_DATE_KEYS = {"new_due_date"}
_ACTIONS = {"sign": _l("Sign"), "revoke": _l("Revoke")}


def _value(key: str, value: Any, reason_labels: Mapping[str, Any]) -> str:
    if value is None or value == "":
        return ""
    if key in _MONEY_KEYS:
        try:
            return money(Decimal(str(value)))
        except (InvalidOperation, ValueError):
            return str(value)
    if key in _DATE_KEYS:
        try:
            return day(date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if key == "reason":
        return str(reason_labels.get(value, value))
    if key == "action":
        return str(_ACTIONS.get(value, value))
    if key == "override" and isinstance(value, dict):
        return _("%(user)s: %(reason)s", user=value.get("user") or "?",
                 reason=value.get("reason") or "")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def details(payload: dict | None, reason_labels: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The request's details as (label, value) in the reader's language, known fields first.

    ``reason_labels``: the dispute reasons' labels (app.requests.models.DISPUTE_REASONS), given
    by the caller so that the models can show details without this module importing them."""
    payload = payload or {}
    rows = [(str(DETAIL_LABELS[k]), _value(k, payload[k], reason_labels)) for k in DETAIL_LABELS
            if k in payload and k not in _SHOWN_ELSEWHERE]
    rows += [(k.replace("_", " ").capitalize(), _value(k, v, reason_labels)) for k, v in sorted(payload.items())
             if k not in DETAIL_LABELS and k not in _SHOWN_ELSEWHERE]
    return [(label, value) for label, value in rows if value]
