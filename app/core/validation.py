"""Turning what people and machines send us into clean values, with messages that name the field.

Every front door (admin form, CSV import, REST API, portal) uses these parsers, so a date or an
amount is accepted or refused the same way everywhere.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _


class ValidationError(ValueError):
    """Field errors: {field: [message, ...]}. Nothing was changed."""

    def __init__(self, errors: Mapping[str, list[str] | str]):
        self.errors = {k: ([v] if isinstance(v, str) else list(v)) for k, v in errors.items()}
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in self.errors.items()))


class Errors:
    """Collects field errors while a record is cleaned, then raises them all at once."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def __contains__(self, field: str) -> bool:
        return field in self.errors

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")
MIN_YEAR, MAX_YEAR = 1900, 2999  # dates people and ERPs may give; see a_date


def text(data: Mapping[str, Any], field: str, errors: Errors, *, required: bool = False,
         max_length: int = 200) -> str | None:
    value = data.get(field)
    value = "" if value is None else str(value).strip()
    if not value:
        if required:
            errors.add(field, _("This field is required."))
        return None
    if len(value) > max_length:
        errors.add(field, _("At most %(n)s characters.", n=max_length))
        return None
    return value


def choice(data: Mapping[str, Any], field: str, errors: Errors, choices: Mapping[str, Any] | tuple,
           *, default: str | None = None) -> str | None:
    value = data.get(field)
    value = "" if value is None else str(value).strip()
    if not value:
        return default
    allowed = list(choices)
    normalised = value.lower() if value.lower() in allowed else value
    if normalised not in allowed:
        errors.add(field, _("Must be one of: %(choices)s.", choices=", ".join(allowed)))
        return None
    return normalised


def parse_amount(value: Any) -> Decimal:
    """'1234.5', '1 234,50', '1.234,50' or 1234.5 -> Decimal('1234.50'); ValueError otherwise."""
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(str(value))
    else:
        raw = str(value).strip().replace("\u00a0", "").replace(" ", "").replace("€", "")
        if "," in raw and "." in raw:
            # The last separator is the decimal one: 1.234,56 (BE/NL/FR) or 1,234.56 (EN).
            if raw.rfind(",") > raw.rfind("."):
                raw = raw.replace(".", "").replace(",", ".")
            else:
                raw = raw.replace(",", "")
        elif "," in raw:
            raw = raw.replace(",", ".")
        if not re.fullmatch(r"[+-]?\d+(\.\d+)?", raw):
            raise ValueError(value)
        amount = Decimal(raw)
    try:
        quantised = amount.quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise ValueError(value) from exc
    if quantised != amount or not quantised.is_finite():
        raise ValueError(value)
    return quantised


def amount(data: Mapping[str, Any], field: str, errors: Errors, *, required: bool = False,
           positive: bool = True, allow_zero: bool = False) -> Decimal | None:
    value = data.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(field, _("This field is required."))
        return None
    if isinstance(value, bool):
        errors.add(field, _("Not an amount: %(value)s.", value=value))
        return None
    try:
        parsed = parse_amount(value)
    except ValueError:
        errors.add(field, _("Not an amount: %(value)s. Use digits with at most two decimals, "
                            "e.g. 125.50.", value=value))
        return None
    if abs(parsed) >= Decimal(10000000000):
        errors.add(field, _("The amount is too large."))
        return None
    if positive and (parsed < 0 or (parsed == 0 and not allow_zero)):
        errors.add(field, _("The amount must be greater than zero."))
        return None
    return parsed


def parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raw = str(value).strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise ValueError(value)


def a_date(data: Mapping[str, Any], field: str, errors: Errors, *, required: bool = False
           ) -> date | None:
    value = data.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(field, _("This field is required."))
        return None
    try:
        parsed = parse_date(value)
    except ValueError:
        errors.add(field, _("Not a date: %(value)s. Use YYYY-MM-DD or DD/MM/YYYY.", value=value))
        return None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        # Year 1 or 9999 is a typo, and date arithmetic on it (a day before, a month after)
        # overflows: refused like any other wrong date.
        errors.add(field, _("Dates must lie between the years %(low)s and %(high)s.",
                            low=MIN_YEAR, high=MAX_YEAR))
        return None
    return parsed


def integer(data: Mapping[str, Any], field: str, errors: Errors, *, minimum: int | None = None,
            maximum: int | None = None) -> int | None:
    value = data.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        parsed = int(str(value).strip())
    except ValueError:
        errors.add(field, _("Not a whole number: %(value)s.", value=value))
        return None
    if (minimum is not None and parsed < minimum) or (maximum is not None and parsed > maximum):
        errors.add(field, _("Must be between %(low)s and %(high)s.", low=minimum, high=maximum))
        return None
    return parsed


def boolean(data: Mapping[str, Any], field: str, errors: Errors) -> bool | None:
    value = data.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in {"1", "true", "yes", "y", "oui", "ja", "on"}:
        return True
    if lowered in {"0", "false", "no", "n", "non", "nee", "off"}:
        return False
    errors.add(field, _("Must be yes or no."))
    return None
