"""Payment rules: booking money received and allocating it to invoices."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from flask_babel import gettext as _
from sqlalchemy import select

from app.core import validation as v
from app.core.models import ZERO
from app.customers.models import Customer
from app.customers.services import refresh_balance
from app.extensions import db
from app.invoices.models import Invoice
from app.invoices.services import find_by_reference, open_invoices, set_open_amount
from app.payments.models import PAYMENT_METHODS, Allocation, Payment


def clean_payment(data: Mapping[str, Any]) -> dict[str, Any]:
    errors = v.Errors()
    clean = {
        "customer_number": v.text(data, "customer_number", errors, max_length=40),
        "invoice_number": v.text(data, "invoice_number", errors, max_length=40),
        "reference": v.text(data, "reference", errors, max_length=140),
        "amount": v.amount(data, "amount", errors, required=True),
        "received_on": v.a_date(data, "received_on", errors, required=True),
        "method": v.choice(data, "method", errors, PAYMENT_METHODS, default="transfer"),
        "external_id": v.text(data, "external_id", errors, max_length=100),
        "counterparty_name": v.text(data, "counterparty_name", errors),
        "counterparty_iban": v.text(data, "counterparty_iban", errors, max_length=34),
    }
    if not (clean["customer_number"] or clean["invoice_number"] or clean["reference"]):
        errors.add("customer_number", _(
            "Give a customer number, an invoice number or a payment reference."))
    errors.raise_if_any()
    return clean


def post_payment(clean: Mapping[str, Any]) -> tuple[Payment, bool]:
    """Book a payment and allocate it: to the named invoice first, then oldest first.

    A repeated post with the same external_id returns the first payment (created=False).
    Whatever cannot be allocated stays on the payment as a credit. Caller commits.
    """
    if clean.get("external_id"):
        existing = db.session.scalar(select(Payment).where(Payment.external_id == clean["external_id"]))
        if existing is not None:
            return existing, False
    target = None
    if clean.get("invoice_number") or clean.get("reference"):
        target = find_by_reference(clean.get("invoice_number") or clean["reference"])
        if target is None and clean.get("invoice_number"):
            raise v.ValidationError({"invoice_number": _(
                "Unknown invoice number: %(number)s.", number=clean["invoice_number"])})
    customer = target.customer if target else None
    if clean.get("customer_number"):
        by_number = db.session.scalar(select(Customer).where(Customer.number == clean["customer_number"]))
        if by_number is None:
            raise v.ValidationError({"customer_number": _(
                "Unknown customer number: %(number)s.", number=clean["customer_number"])})
        if customer is not None and customer.id != by_number.id:
            raise v.ValidationError({"invoice_number": _(
                "Invoice %(invoice)s does not belong to customer %(customer)s.",
                invoice=target.number, customer=by_number.number)})
        customer = by_number
    payment = Payment(
        customer=customer, amount=clean["amount"], unallocated_amount=clean["amount"],
        received_on=clean["received_on"], method=clean.get("method") or "transfer",
        communication=clean.get("reference") or clean.get("invoice_number"),
        external_id=clean.get("external_id"), counterparty_name=clean.get("counterparty_name"),
        counterparty_iban=clean.get("counterparty_iban"), status="unmatched",
    )
    db.session.add(payment)
    if customer is not None:
        candidates = list(open_invoices(customer.id))
        if target is not None and target in candidates:
            candidates.remove(target)
            candidates.insert(0, target)
        allocate_oldest_first(payment, candidates, rule="reference" if target else "oldest_first")
        refresh_balance(customer)
    return payment, True


def allocate_oldest_first(payment: Payment, invoices: list[Invoice], rule: str,
                          confidence: Decimal | None = None, user_id: int | None = None) -> None:
    for invoice in invoices:
        if payment.unallocated_amount <= 0:
            break
        allocate(payment, invoice, min(payment.unallocated_amount, invoice.open_amount), rule,
                 confidence, user_id)


def allocate(payment: Payment, invoice: Invoice, amount: Decimal, rule: str = "manual",
             confidence: Decimal | None = None, user_id: int | None = None) -> Allocation | None:
    """Apply part of a payment to an invoice; open amounts and statuses follow."""
    if amount <= 0:
        return None
    if amount > payment.unallocated_amount or amount > invoice.open_amount:
        raise v.ValidationError({"amount": _("The amount is more than what is open.")})
    allocation = Allocation(payment=payment, invoice=invoice, amount=amount, rule=rule,
                            confidence=confidence, created_by_id=user_id)
    db.session.add(allocation)
    payment.unallocated_amount -= amount
    payment.status = "allocated" if payment.unallocated_amount == ZERO else "partially_allocated"
    set_open_amount(invoice, invoice.open_amount - amount, paid_on=payment.received_on)
    return allocation


