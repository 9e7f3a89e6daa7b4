"""EPC "scan to pay" QR codes (EPC069-12, version 002) for SEPA credit transfers.

The payload is text, one element per line:

    BCD / 002 / 1 (UTF-8) / SCT / BIC / beneficiary name / IBAN / EUR<amount> / purpose /
    structured reference / free text / information for the payer

Rules from the guidelines that this module enforces:
- the structured reference and the free text are exclusive; the line of the one not used stays
  (empty) so that the following lines keep their position;
- the last populated element is not followed by a line break: empty trailing lines are dropped;
- error correction level M, at most QR version 13, i.e. at most 331 bytes of payload.

The QR code is made by `segno` and exposed as SVG/PNG bytes (web pages) and as runs of dark
modules that a PDF draws as vector rectangles (no image library involved).
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import segno
from flask_babel import gettext as _

from app.core.bank_identifiers import clean_bic, clean_iban
from app.core.validation import ValidationError
from app.invoices.references import InvalidReference, normalise_ogm, normalise_rf

MAX_PAYLOAD_BYTES = 331
MAX_QR_VERSION = 13
MIN_AMOUNT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999.99")
MAX_NAME, MAX_REFERENCE, MAX_TEXT, MAX_INFO = 70, 35, 140, 70
QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks


# --- payload ----------------------------------------------------------------------------------

def format_amount(amount: Any) -> str:
    """EUR125.50: a dot, always two decimals, no thousands separator.

    The guidelines accept one or two decimals (their example is EUR12.3); two are always valid
    and read unambiguously, so we never write EUR125.5 or EUR125.
    """
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise ValidationError({"amount": _("Not an amount: %(value)s.", value=amount)}) from None
    if Decimal(str(amount)) != value or not MIN_AMOUNT <= value <= MAX_AMOUNT:
        raise ValidationError({"amount": _(
            "A payment QR code needs an amount between %(low)s and %(high)s with at most two "
            "decimals.", low="0.01", high="999999999.99")})
    return f"EUR{value:.2f}"


def clean_reference(value: str) -> str:
    """A structured reference for the QR code: a Belgian OGM (12 digits) or an RF reference."""
    raw = (value or "").strip()
    try:
        if raw.upper().startswith("RF"):
            return normalise_rf(raw)
        return normalise_ogm(raw)
    except InvalidReference:
        raise ValidationError({"reference": _(
            "Not a valid structured communication or RF reference: %(value)s.", value=raw)}
        ) from None


def _one_line(value: str | None) -> str:
    # A line break inside a value would shift every following element.
    return " ".join((value or "").split())


def _check_length(errors: dict, field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        errors[field] = [_("At most %(n)s characters.", n=limit)]


def epc_payload(*, name: str, iban: str, amount: Any, bic: str | None = None,
                reference: str | None = None, text: str | None = None,
                info: str | None = None, purpose: str | None = None) -> str:
    """The EPC069-12 payload; ValidationError (naming the field) when something is wrong."""
    name, text, info = _one_line(name), _one_line(text), _one_line(info)
    purpose = _one_line(purpose).upper()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("The beneficiary name is required.")]
    _check_length(errors, "name", name, MAX_NAME)
    _check_length(errors, "text", text, MAX_TEXT)
    _check_length(errors, "info", info, MAX_INFO)
    if purpose and not re.fullmatch(r"[A-Z0-9]{4}", purpose):
        errors["purpose"] = [_("A purpose code has 4 letters or digits.")]
    if reference and text:
        errors["text"] = [_("Use either a structured reference or a free text, not both.")]
    checks = {
        "iban": lambda: clean_iban(iban),
        "bic": lambda: clean_bic(bic),
        "amount": lambda: format_amount(amount),
        "reference": lambda: clean_reference(reference) if reference else "",
    }
    cleaned = {}
    for field, check in checks.items():
        try:
            cleaned[field] = check()
        except ValidationError as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    lines = ["BCD", "002", "1", "SCT", cleaned["bic"], name, cleaned["iban"], cleaned["amount"],
             purpose, cleaned["reference"], text, info]
    while not lines[-1]:  # nothing may follow the last populated element
        lines.pop()
    payload = "\n".join(lines)
    if len(payload.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise ValidationError({"text": _(
            "The payment QR code can hold at most %(n)s bytes; shorten the texts.",
            n=MAX_PAYLOAD_BYTES)})
    return payload


# --- QR code ----------------------------------------------------------------------------------

def make_qr(payload: str) -> segno.QRCode:
    """The QR code for a payload: byte mode, UTF-8, level M (never boosted, as required)."""
    qr = segno.make_qr(payload.encode("utf-8"), error="m", boost_error=False)
    if qr.version > MAX_QR_VERSION:  # cannot happen within 331 bytes; guard the invariant
        raise ValueError(f"EPC QR code needs version {qr.version} > {MAX_QR_VERSION}")
    return qr


def qr_svg(qr: segno.QRCode, scale: int = 4) -> bytes:
    """A standalone SVG (for <img src> or an inline data URI in a web page)."""
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=scale, border=QUIET_ZONE, title=None)
    return buffer.getvalue()


def qr_png(qr: segno.QRCode, scale: int = 4) -> bytes:
    """A PNG (segno writes it itself; Pillow is not needed)."""
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=scale, border=QUIET_ZONE)
    return buffer.getvalue()


@dataclass(frozen=True)
class ModuleRun:
    """``length`` dark modules side by side on ``row``, starting at ``column`` (0 = top left)."""

    row: int
    column: int
    length: int


def dark_module_runs(qr: segno.QRCode) -> tuple[int, list[ModuleRun]]:
    """The symbol size (without quiet zone) and its dark modules as horizontal runs.

    Drawing runs instead of single squares gives ~3x fewer rectangles and no hairline seams
    between neighbouring modules in PDF viewers.
    """
    runs: list[ModuleRun] = []
    size = 0
    for row, modules in enumerate(qr.matrix_iter(scale=1, border=0)):
        size += 1
        start = None
        for column, dark in enumerate(list(modules) + [0]):
            if dark and start is None:
                start = column
            elif not dark and start is not None:
                runs.append(ModuleRun(row, start, column - start))
                start = None
    return size, runs


# --- for an invoice ---------------------------------------------------------------------------

def qr_reference_for(invoice: Any, creditor_iban: str) -> str:
    """Which reference goes on the structured-reference line of an invoice's QR code.

    The Belgian OGM (12 digits, no +++ or slashes) when both the creditor account and the
    customer are Belgian: Belgian banks carry it into the transfer as a BBA structured
    reference, the form our statement matching reads first, and Belgian banking apps are
    reported to take it from this line (not from the free text). Otherwise the ISO 11649 RF
    reference: the OGM means nothing to a foreign bank, while every SEPA bank knows RF. Both
    references are stored on the invoice, so either payment is matched to it.
    """
    customer_country = getattr(invoice.customer, "country", None) or "BE"
    if creditor_iban.startswith("BE") and customer_country == "BE":
        return invoice.structured_reference
    return invoice.rf_reference


def invoice_payload(invoice: Any) -> str | None:
    """The EPC payload to pay what is open on an invoice, or None when nothing is to be paid.

    Raises ValidationError when the company's IBAN/BIC/name settings are not valid.
    """
    from app.core.settings import company_details

    if not invoice.is_open or invoice.open_amount is None or invoice.open_amount < MIN_AMOUNT:
        return None
    company = company_details()
    iban = clean_iban(company["iban"])
    return epc_payload(
        name=company["name"][:MAX_NAME],  # the bank shows it; it does not route the payment
        iban=iban,
        bic=company["bic"],
        amount=invoice.open_amount,
        reference=qr_reference_for(invoice, iban),
        info=_invoice_info(invoice),
    )


def _invoice_info(invoice: Any) -> str:
    """The note the bank shows the payer, in the customer's language (not the viewer's)."""
    from flask_babel import force_locale

    from app.core.i18n import language_locale

    with force_locale(language_locale(invoice.customer.language)):
        return _("Invoice %(number)s", number=invoice.number)[:MAX_INFO]


def invoice_qr(invoice: Any) -> segno.QRCode | None:
    """The QR code of an invoice (None when nothing is to be paid)."""
    payload = invoice_payload(invoice)
    return make_qr(payload) if payload else None
