"""Payment references: Belgian structured communication (OGM/VCS) and ISO 11649 RF references.

One place for the rules, shared by invoices, plan instalments, statement matching, the admin
search and the API.
"""
from __future__ import annotations

import re

from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

_NOT_DIGITS = re.compile(r"\D")
# +++123/4567/89002+++ or ***123/4567/89002*** as people type it, with or without spaces.
OGM_IN_TEXT = re.compile(
    r"(?:\+{3}|\*{3})?\s*(\d{3})\s*/?\s*(\d{4})\s*/?\s*(\d{5})\s*(?:\+{3}|\*{3})?"
)


class InvalidReference(ValueError):
    """A payment reference whose format or check digits are wrong."""


def ogm_check_digits(base: int | str) -> str:
    """Check digits of a structured communication: base mod 97, and 97 when that is 0."""
    remainder = int(base) % 97
    return f"{remainder or 97:02d}"


def make_ogm(base: int) -> str:
    """The 12 digits of the structured communication for a 10-digit base number."""
    if not 0 <= base < 10**10:
        raise InvalidReference("base must have at most 10 digits")
    digits = f"{base:010d}"
    return digits + ogm_check_digits(digits)


def normalise_ogm(value: str) -> str:
    """The 12 digits of a structured communication typed any way; raises InvalidReference."""
    digits = _NOT_DIGITS.sub("", value or "")
    if len(digits) != 12:
        raise InvalidReference("a structured communication has 12 digits")
    if digits[10:] != ogm_check_digits(digits[:10]):
        raise InvalidReference("the check digits of the structured communication are wrong")
    return digits


def is_valid_ogm(value: str) -> bool:
    try:
        normalise_ogm(value)
    except InvalidReference:
        return False
    return True


def format_ogm(digits: str) -> str:
    """+++123/4567/89002+++"""
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


def find_ogms(text: str) -> list[str]:
    """Every valid structured communication typed into free text, in order."""
    found = []
    for match in OGM_IN_TEXT.finditer(text or ""):
        digits = "".join(match.groups())
        if is_valid_ogm(digits) and digits not in found:
            found.append(digits)
    return found


def make_rf(reference: str) -> str:
    """ISO 11649 creditor reference for an alphanumeric reference: RF + check digits + ref."""
    body = re.sub(r"\s", "", reference).upper()
    if not body.isalnum() or not 1 <= len(body) <= 21:
        raise InvalidReference("an RF reference holds 1 to 21 letters or digits")
    return "RF" + mod_97_10.calc_check_digits(body + "RF") + body


def normalise_rf(value: str) -> str:
    compact = re.sub(r"\s", "", value or "").upper()
    if not iso11649.is_valid(compact):
        raise InvalidReference("the RF creditor reference is not valid")
    return compact


def format_rf(value: str) -> str:
    """RF18 5390 0754 7034 (groups of four, as printed)."""
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4))


def references_for_number(number: int) -> tuple[str, str]:
    """The OGM and the RF reference an invoice gets from its internal sequence number."""
    ogm = make_ogm(number)
    return ogm, make_rf(ogm)


# --- references typed into free text (statement matching) ------------------------------------
# Stricter than OGM_IN_TEXT: not inside a longer number, so that the 12-digit windows of a bank
# reference or a 27-digit foreign reference are not taken for structured communications.
# Between the groups people type spaces, slashes, dots or dashes (one separator, maybe spaced).
_OGM_ALONE = re.compile(r"(?<![\d.\-])(?:\+{3}|\*{3})?\s*(\d{3})\s*[/.\-]?\s*(\d{4})\s*[/.\-]?\s*"
                        r"(\d{5})\s*(?:\+{3}|\*{3})?(?![\d]|[.\-]\d)")
_RF_START = re.compile(r"(?<![A-Za-z0-9])RF[\s.\-]?\d{2}", re.IGNORECASE)
_RF_SEPARATORS = " .-/"


def find_references(text: str | None) -> list[tuple[str, str]]:
    """OGMs and RF references typed into free text, in order: [("ogm", digits), ("rf", "RF..")].

    An OGM may be written +++123/4567/89002+++, ***123/4567/89002***, 123 4567 89002,
    123.4567.89002, 123-4567-89002 or 123456789002; an RF reference with or without spaces,
    dots, dashes or slashes between its groups. The check digits decide.
    """
    if not text:
        return []
    found: list[tuple[int, str, str]] = []
    for match in _OGM_ALONE.finditer(text):
        digits = "".join(match.groups())
        if is_valid_ogm(digits):
            found.append((match.start(), "ogm", digits))
    for match in _RF_START.finditer(text):
        rf = _rf_at(text, match.start())
        if rf:
            found.append((match.start(), "rf", rf))
    result: list[tuple[str, str]] = []
    for _position, kind, value in sorted(found):
        if (kind, value) not in result:
            result.append((kind, value))
    return result


def betalingskenmerk_numbers(value: str | None) -> list[str]:
    """What a Dutch *betalingskenmerk* (payment reference, camt Strd Cd=SCOR Issr=CUR) may
    name: the reference itself and, for the 16-digit form (check digit + 15 digits), the number
    it carries without the check digit and the zeros that pad it."""
    digits = _NOT_DIGITS.sub("", value or "")
    if not 7 <= len(digits) <= 16:
        return []
    found = [digits]
    if len(digits) == 16:
        body = digits[1:].lstrip("0")
        if body and body not in found:
            found.append(body)
    return found


def _rf_at(text: str, start: int) -> str | None:
    """The longest valid RF reference starting at ``start`` that ends at a word boundary."""
    chars: list[str] = []
    ends: list[int] = []
    for char in text[start:start + 40]:
        if char.isalnum():
            chars.append(char.upper())
            if len(chars) > 25:
                break
        elif char in _RF_SEPARATORS and len(chars) >= 2:
            if len(chars) >= 4:
                ends.append(len(chars))
        else:
            break
    ends.append(len(chars))
    for end in sorted(set(ends), reverse=True):
        try:
            return normalise_rf("".join(chars[:end]))
        except InvalidReference:
            continue
    return None
