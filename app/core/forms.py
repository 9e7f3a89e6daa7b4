"""Form fields every staff screen shares.

``MoneyField``: an amount typed the way the reader writes it. "12,50" and "12.50" are both
twelve euros fifty in every language; a group separator is read per locale ("1.234,50" in
French or Dutch, "1,234.50" in English). A refused value stays in the box as it was typed.
"""
from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import gettext as _
from wtforms import StringField

from app.core.i18n import current_language
from app.core.validation import parse_amount

# One separator followed by exactly three digits is a thousands group in the locale that
# groups with it ("1.234" in fr/nl, "1,234" in en), never a decimal part of three places.
_GROUPED = {"fr": re.compile(r"^[+-]?\d{1,3}(\.\d{3})+$"),
            "nl": re.compile(r"^[+-]?\d{1,3}(\.\d{3})+$"),
            "en": re.compile(r"^[+-]?\d{1,3}(,\d{3})+$")}


def parse_money_input(raw: str, language: str | None = None) -> Decimal:
    """Typed text -> Decimal with two places; ValueError when it is not an amount."""
    text = str(raw).strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    text = text.replace("€", "").replace("EUR", "")
    grouped = _GROUPED.get(language or current_language())
    if grouped is not None and grouped.match(text):
        text = re.sub(r"[.,]", "", text)
    return parse_amount(text)


class MoneyField(StringField):
    """A text box for an amount in euros; ``data`` is a Decimal (or None when left empty)."""

    def __init__(self, label=None, validators=None, *, minimum: Decimal | None = Decimal("0.01"),
                 **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, validators, **kwargs)
        self.minimum = minimum

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        raw = valuelist[0]
        if not str(raw).strip():
            self.data = None
            return
        try:
            amount = parse_money_input(raw)
        except ValueError:
            self.data = None
            raise ValueError(_("Enter an amount such as 12,50 or 1.234,50.")) from None
        if self.minimum is not None and amount < self.minimum:
            self.data = None
            raise ValueError(_("The amount must be more than zero."))
        self.data = amount

    def _value(self) -> str:
        if self.raw_data:  # what was typed, refused or not
            return self.raw_data[0]
        return "" if self.data is None else str(self.data)
