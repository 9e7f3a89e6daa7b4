"""Bank identifiers: IBAN and BIC, checked and written the way banks and people expect.

In core because every layer needs them: company settings, customers' refund and mandate
accounts, payment instructions, EPC QR codes, SEPA files.
"""
from __future__ import annotations

from flask_babel import gettext as _
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError as StdnumError

from app.core.validation import ValidationError


def clean_iban(value: str | None, field: str = "iban") -> str:
    """The IBAN in compact form (BE04068246137931), or ValidationError naming ``field``.

    The ISO 13616 check digits and the country's account format are checked. For Belgian
    accounts the national check digits are checked too (a typo almost always breaks them); we
    do not require the bank code to be in python-stdnum's bank list, which lags behind new banks.
    """
    raw = (value or "").strip()
    try:
        compact = stdnum_iban.validate(raw, check_country=False)
    except StdnumError:
        raise ValidationError({field: _("Not a valid IBAN: %(value)s.", value=raw)}) from None
    if compact.startswith("BE"):
        base, check = compact[4:14], compact[14:16]
        if check != f"{int(base) % 97 or 97:02d}":
            raise ValidationError({field: _("Not a valid IBAN: %(value)s.", value=raw)})
    return compact


def clean_bic(value: str | None, field: str = "bic") -> str:
    """The BIC in upper case (8 or 11 characters), "" when empty, or ValidationError."""
    raw = (value or "").strip()
    if not raw:
        return ""
    try:
        return stdnum_bic.validate(raw)
    except StdnumError:
        raise ValidationError({field: _("Not a valid BIC: %(value)s.", value=raw)}) from None


def format_iban(compact: str) -> str:
    """BE04 0682 4613 7931 (groups of four, as printed)."""
    return stdnum_iban.format(compact)
