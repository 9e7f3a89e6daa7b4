"""Peppol participant identifiers: which endpoint scheme (EAS code) a party is addressed with.

Belgium: the enterprise number under scheme 0208 (10 digits, mod-97 check, the Peppol rule
PEPPOL-COMMON-R043); elsewhere the VAT number under the country's VAT scheme of the CEF EAS code
list (9944 NL, 9957 FR, 9930 DE, 9938 LU, ...). A staff-entered endpoint (any EAS code) wins.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# CEF "Electronic Address Scheme" codes of the VAT-number schemes, per country (EAS code list
# as used by Peppol BIS 3.0.21). 0208 for Belgium is the enterprise number, not the VAT number.
VAT_SCHEMES = {
    "AD": "9922", "AL": "9923", "AT": "9914", "BA": "9924", "BE": "9925", "BG": "9926",
    "CH": "9927", "CY": "9928", "CZ": "9929", "DE": "9930", "EE": "9931", "ES": "9920",
    "FR": "9957", "GB": "9932", "GR": "9933", "HR": "9934", "HU": "9910", "IE": "9935",
    "IT": "0211", "LI": "9936", "LT": "9937", "LU": "9938", "LV": "9939", "MC": "9940",
    "ME": "9941", "MK": "9942", "MT": "9943", "NL": "9944", "PL": "9945", "PT": "9946",
    "RO": "9947", "RS": "9948", "SI": "9949", "SK": "9950", "SM": "9951", "TR": "9952",
    "VA": "9953", "SE": "9955",
}
BELGIAN_ENTERPRISE_SCHEME = "0208"
# Every scheme staff may type for a customer: the VAT schemes plus common registration ones.
KNOWN_SCHEMES = frozenset(VAT_SCHEMES.values()) | {
    "0208", "0088", "0009", "0002", "0106", "0190", "0192", "0184", "0007", "0037", "0060",
    "0096", "0151", "0183", "0188", "0195", "0196", "0198", "0204", "0209", "0210", "0212",
    "0213", "0215", "0216", "0217", "0221", "0230", "9959", "9954", "9956"}
# EU VAT prefixes that differ from the ISO country code.
_VAT_PREFIX = {"GR": "EL"}


class IdentifierError(ValueError):
    """A party cannot be given a valid Peppol identifier (the message says why)."""


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    value: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.value}"

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        scheme, sep, value = (text or "").strip().partition(":")
        if not sep or not scheme or not value:
            raise IdentifierError(text)
        return cls(scheme.strip(), value.strip())


def digits(text: str | None) -> str:
    return re.sub(r"\D", "", text or "")


def compact_vat(vat: str | None) -> str:
    """``be 0123.456.749`` → ``BE0123456749``."""
    return re.sub(r"[\s.\-/]", "", vat or "").upper()


def is_belgian_enterprise_number(number: str) -> bool:
    """10 digits, starting 0 or 1, the last two = 97 - (first eight mod 97)."""
    if not re.fullmatch(r"[01]\d{9}", number):
        return False
    return 97 - int(number[:8]) % 97 == int(number[8:])


def belgian_enterprise_number(text: str | None) -> str | None:
    """The 10-digit enterprise number in an enterprise or BE VAT number, if valid."""
    found = digits(text)
    if len(found) == 9:  # old 9-digit numbers: a leading 0 was added in 2006
        found = "0" + found
    return found if is_belgian_enterprise_number(found) else None


def vat_country(vat: str) -> str | None:
    prefix = compact_vat(vat)[:2]
    if not prefix.isalpha():
        return None
    return {"EL": "GR"}.get(prefix, prefix)


def with_country_prefix(vat: str | None, country: str | None) -> str | None:
    """A VAT number as Peppol wants it (BR-CO-09): ISO prefix first (``EL`` for Greece)."""
    compact = compact_vat(vat)
    if not compact:
        return None
    if compact[:2].isalpha():
        return compact
    if not country:
        return None
    return _VAT_PREFIX.get(country.upper(), country.upper()) + compact


def endpoint_for(country: str | None, vat_number: str | None,
                 enterprise_number: str | None = None) -> Endpoint | None:
    """The endpoint a party is reachable on by default, or None when nothing identifies it."""
    country = (country or "").upper()
    vat = with_country_prefix(vat_number, country)
    if country == "BE" or (vat and vat.startswith("BE")):
        number = belgian_enterprise_number(enterprise_number) or belgian_enterprise_number(vat)
        return Endpoint(BELGIAN_ENTERPRISE_SCHEME, number) if number else None
    if vat:
        scheme = VAT_SCHEMES.get(vat_country(vat) or "")
        if scheme:
            return Endpoint(scheme, vat)
    return None


def check_endpoint(endpoint: Endpoint) -> None:
    """Refuse what access points would refuse: an unknown scheme, a bad 0208 number."""
    if endpoint.scheme not in KNOWN_SCHEMES:
        raise IdentifierError(f"unknown scheme {endpoint.scheme}")
    if endpoint.scheme == BELGIAN_ENTERPRISE_SCHEME and \
            not is_belgian_enterprise_number(endpoint.value):
        raise IdentifierError(f"bad Belgian enterprise number {endpoint.value}")
    if not re.fullmatch(r"[A-Za-z0-9.\-_:]{1,50}", endpoint.value):
        raise IdentifierError(f"bad identifier {endpoint.value}")
