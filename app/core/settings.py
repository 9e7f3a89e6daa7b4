"""Product settings: every known key with its default, read from the `Setting` table.

Code never reads a `Setting` row directly: it calls ``get_setting("company.iban")``. A key that
has no row yet gives its default, so a fresh install works and a new setting needs no migration.
Staff change values in the admin; ``set_setting`` checks the value against the key's type first.

Adding a setting is one line, here or in the domain that owns it:

    register_setting("dunning.minimum_amount", Decimal("5.00"), "decimal",
                     _l("Smallest amount reminded"), "dunning")

A key declared in a domain module exists once that module is imported; declare it in a module
the app imports at start (models, services), or here.

Types: str, text (several lines), int, decimal, bool, email, iban, bic. Values are stored as JSON
(decimals as strings, so no cents are lost to floats).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.core import validation as v
from app.core.models import Setting
from app.extensions import db

log = logging.getLogger(__name__)

TYPES = ("str", "text", "int", "decimal", "bool", "email", "iban", "bic")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class SettingDefinition:
    key: str
    default: Any
    type: str = "str"
    label: Any = ""  # a lazy_gettext string: shown in the admin in the staff member's language
    category: str = "general"
    required: bool = False  # an empty value is refused (e.g. the company name)


REGISTRY: dict[str, SettingDefinition] = {}


def register_setting(key: str, default: Any, type: str = "str", label: Any = "",
             category: str = "general", *, required: bool = False) -> SettingDefinition:
    """Declare a setting. Declaring the same key twice is a programming error."""
    if type not in TYPES:
        raise ValueError(f"unknown setting type {type!r} for {key}")
    if key in REGISTRY:
        raise ValueError(f"setting {key} is declared twice")
    definition = SettingDefinition(key, default, type, label or key, category, required)
    REGISTRY[key] = definition
    return definition


def definition(key: str) -> SettingDefinition:
    try:
        return REGISTRY[key]
    except KeyError:
        raise KeyError(f"unknown setting {key!r}: declare it with register_setting()") from None


def definitions(category: str | None = None) -> list[SettingDefinition]:
    """Known settings in declaration order, optionally those of one category."""
    return [d for d in REGISTRY.values() if category is None or d.category == category]


# --- reading ----------------------------------------------------------------------------------

def get_setting(key: str) -> Any:
    """The stored value of a setting, or its default when nothing (valid) is stored."""
    found = definition(key)
    row = db.session.scalar(select(Setting).where(Setting.key == key))
    return _from_stored(found, row.value if row is not None else None)


def get_settings(keys: Iterable[str]) -> dict[str, Any]:
    """Several settings in one query (e.g. everything printed in an invoice header)."""
    wanted = {key: definition(key) for key in keys}
    rows = db.session.scalars(select(Setting).where(Setting.key.in_(list(wanted)))).all()
    stored = {row.key: row.value for row in rows}
    return {key: _from_stored(found, stored.get(key)) for key, found in wanted.items()}


def is_customised(key: str) -> bool:
    """Whether staff stored a value (False: the default applies, e.g. the demo company)."""
    definition(key)
    return db.session.scalar(select(Setting.id).where(Setting.key == key)) is not None


def _from_stored(found: SettingDefinition, value: Any) -> Any:
    if value is None:
        return found.default
    try:
        return _parse(found, value)
    except v.ValidationError:
        # A row edited by hand into something invalid must not break invoices or jobs. A number
        # falls back to its default; a text (an IBAN!) is returned as stored, never swapped for
        # the demo default, and the code using it checks it (no QR code for a wrong IBAN).
        log.warning("setting %s holds an invalid value", found.key)
        if found.type in ("int", "decimal", "bool"):
            return found.default
        return str(value)


# --- writing ----------------------------------------------------------------------------------

def clean_setting_value(key: str, raw: Any) -> Any:
    """The value as the setting's type, or ValidationError({key: [message]})."""
    return _parse(definition(key), raw)


def set_setting(key: str, raw: Any) -> Any:
    """Check and store a value (the caller commits). Returns the cleaned value."""
    found = definition(key)
    value = _parse(found, raw)
    row = db.session.scalar(select(Setting).where(Setting.key == key))
    if row is None:
        row = Setting(key=key, category=found.category)
        db.session.add(row)
    row.value = _to_stored(found, value)
    return value


def reset_setting(key: str) -> None:
    """Go back to the default (the caller commits)."""
    definition(key)
    row = db.session.scalar(select(Setting).where(Setting.key == key))
    if row is not None:
        db.session.delete(row)


def _to_stored(found: SettingDefinition, value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


# --- types ------------------------------------------------------------------------------------

def _parse(found: SettingDefinition, raw: Any) -> Any:
    key = found.key
    if found.type in ("int", "decimal", "bool"):
        errors = v.Errors()
        if found.type == "int":
            value = raw if isinstance(raw, int) and not isinstance(raw, bool) else \
                v.integer({key: raw}, key, errors)
        elif found.type == "decimal":
            value = v.amount({key: raw}, key, errors, positive=False)
        else:
            value = raw if isinstance(raw, bool) else v.boolean({key: raw}, key, errors)
        errors.raise_if_any()
        if value is None:
            if found.required:
                raise v.ValidationError({key: _("This field is required.")})
            return found.default
        return value
    text = "" if raw is None else str(raw)
    if found.type == "text":
        # Several lines (an address): keep the line breaks, drop blank lines and stray spaces.
        text = "\n".join(line.strip() for line in text.splitlines() if line.strip())
    else:
        text = " ".join(text.split())
    if not text:
        if found.required:
            raise v.ValidationError({key: _("This field is required.")})
        return ""
    if len(text) > 2000:
        raise v.ValidationError({key: _("At most %(n)s characters.", n=2000)})
    return _CHECKS.get(found.type, lambda key, text: text)(key, text)


def _email(key: str, text: str) -> str:
    if not _EMAIL.match(text):
        raise v.ValidationError({key: _("Not a valid e-mail address.")})
    return text


def _iban(key: str, text: str) -> str:
    from app.payments.epc import clean_iban  # the payments domain owns bank identifiers

    return clean_iban(text, field=key)


def _bic(key: str, text: str) -> str:
    from app.payments.epc import clean_bic

    return clean_bic(text, field=key)


_CHECKS: dict[str, Callable[[str, str], str]] = {"email": _email, "iban": _iban, "bic": _bic}


# --- the company that sends the invoices (the creditor) --------------------------------------
# Printed on invoices and reminders, and put in the payment QR code. The defaults are a demo
# company so that a fresh install shows complete documents; the IBAN has valid check digits.
register_setting("company.name", "CreditDesk Demo SA", "str", _l("Company name"), "company",
                 required=True)
register_setting("company.address", "Avenue Louise 54\n1050 Bruxelles\nBelgique", "text",
                 _l("Company address"), "company")
register_setting("company.enterprise_number", "0123.456.749", "str", _l("Enterprise number"),
                 "company")
register_setting("company.vat_number", "BE0123456749", "str", _l("VAT number"), "company")
register_setting("company.iban", "BE04068246137931", "iban", _l("IBAN for payments"),
                 "company", required=True)
register_setting("company.bic", "GKCCBEBB", "bic", _l("BIC"), "company")
register_setting("company.email", "billing@creditdesk-demo.example", "email", _l("E-mail"),
                 "company")
register_setting("company.phone", "+32 2 123 45 67", "str", _l("Phone"), "company")
register_setting("company.website", "https://www.creditdesk-demo.example", "str",
                 _l("Website"), "company")
# SEPA creditor identifier: on direct-debit mandates and in pain.008 collection files.
register_setting("company.creditor_id", "BE81ZZZ0123456749", "str",
                 _l("SEPA creditor identifier"), "company")

COMPANY_KEYS = tuple(d.key for d in definitions("company"))


def company_details() -> dict[str, Any]:
    """The creditor's data without the "company." prefix: {"name": ..., "iban": ...}."""
    return {key.split(".", 1)[1]: value for key, value in get_settings(COMPANY_KEYS).items()}
