"""Paying by bank transfer: the amount, our account, the structured reference
and an EPC QR code to scan, for one invoice or for everything overdue.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import ngettext

from app.accounts.invoice_states import InvoiceState, invoice_state, open_invoice_states
from app.core import bank_identifiers
from app.core.models import ZERO
from app.core.settings import company_details
from app.core.validation import ValidationError
from app.invoices import epc
from app.invoices.models import Invoice
from app.invoices.references import format_ogm, format_rf
from app.requests.models import Installment


@dataclass
class TransferDetails:
    """Everything a customer types (or scans) into a banking app for one transfer."""

    amount: Decimal
    beneficiary: str
    iban: str
    bic: str
    reference: str               # shown as printed: +++123/4567/89002+++ or RF18 5390 ...
    reference_kind: str          # ogm / rf
    qr_data_uri: str | None
    qr_error: str | None
    invoices: list[InvoiceState]
    excluded: list[InvoiceState]


def _transfer(amount: Decimal, reference_invoice: Invoice, info: str,
              invoices: list[InvoiceState], excluded: list[InvoiceState]) -> TransferDetails:
    company = company_details()
    qr_uri, qr_error = None, None
    try:
        iban = bank_identifiers.clean_iban(company["iban"])
        reference = epc.qr_reference_for(reference_invoice, iban)
    except ValidationError:
        # A wrong IBAN in the settings: the page says so instead of failing.
        iban, reference = str(company["iban"] or ""), reference_invoice.structured_reference
        qr_error = _("The payment details are being updated; please try again later.")
    kind = "ogm" if reference == reference_invoice.structured_reference else "rf"
    if qr_error is None and amount >= epc.MIN_AMOUNT:
        try:
            payload = epc.epc_payload(name=company["name"][:epc.MAX_NAME], iban=iban,
                                      bic=company["bic"], amount=amount, reference=reference,
                                      info=info[:epc.MAX_INFO])
            svg = epc.qr_svg(epc.make_qr(payload), scale=5)
            qr_uri = "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
        except ValidationError:
            qr_error = _("The payment QR code is not available; use the details below.")
    return TransferDetails(
        amount=amount, beneficiary=company["name"], iban=bank_identifiers.format_iban(iban) if iban else "",
        bic=company["bic"] or "",
        reference=format_ogm(reference) if kind == "ogm" else format_rf(reference),
        reference_kind=kind, qr_data_uri=qr_uri, qr_error=qr_error, invoices=invoices,
        excluded=excluded)


def pay_invoice(customer_id: int, invoice_id: int, today: date | None = None
                ) -> tuple[InvoiceState, TransferDetails | None] | None:
    """(state, transfer) for one invoice; transfer is None when nothing is to be paid."""
    state = invoice_state(customer_id, invoice_id, today)
    if state is None:
        return None
    if state.payable < epc.MIN_AMOUNT:
        return state, None
    return state, _transfer(state.payable, state.invoice,
                            _("Invoice %(number)s", number=state.invoice.number), [state], [])


def pay_overdue(customer_id: int, today: date | None = None) -> TransferDetails | None:
    """One transfer for every overdue invoice, less what is disputed (None: nothing overdue).

    The communication is the oldest overdue invoice's reference: our matching books a payment
    on that invoice first and spreads the rest over the customer's other open invoices.
    """
    states = [s for s in open_invoice_states(customer_id, today) if s.is_overdue]
    payable = [s for s in states if s.payable >= epc.MIN_AMOUNT]
    excluded = [s for s in states if s.payable < epc.MIN_AMOUNT]
    if not payable:
        return None
    total = sum((s.payable for s in payable), ZERO)
    oldest = min(payable, key=lambda s: (s.effective_due, s.invoice.id))
    info = _("Invoices %(numbers)s", numbers=", ".join(s.invoice.number for s in payable))
    if len(info) > epc.MAX_INFO:
        info = ngettext("%(num)s overdue invoice", "%(num)s overdue invoices", len(payable))
    return _transfer(total, oldest.invoice, info, payable, excluded)


def installment_qr(installment: Installment) -> str | None:
    """A data: URI of the EPC QR code to pay what is left of one instalment (None: nothing)."""
    left = installment.amount - (installment.paid_amount or 0)
    if left < epc.MIN_AMOUNT:
        return None
    company = company_details()
    try:
        payload = epc.epc_payload(
            name=company["name"][:epc.MAX_NAME], iban=company["iban"], bic=company["bic"],
            amount=left, reference=installment.structured_reference,
            info=_("Instalment %(n)s", n=installment.sequence)[:epc.MAX_INFO])
    except ValidationError:
        return None
    svg = epc.qr_svg(epc.make_qr(payload), scale=4)
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
