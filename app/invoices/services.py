"""Invoice rules: what a valid invoice is, create-or-update by ERP number, payment references."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from app.core import sequences
from app.core import validation as v
from app.core.models import ZERO
from app.core.time import business_today
from app.customers.models import Customer
from app.customers.services import refresh_balance
from app.extensions import db
from app.invoices.models import OPEN_STATUSES, Invoice, invoice_is_open
from app.invoices.references import InvalidReference, make_rf, normalise_ogm, references_for_number

INVOICE_FIELDS = ("number", "customer_number", "issue_date", "due_date", "total_amount",
                  "currency", "description", "structured_reference")
SUPPORTED_CURRENCIES = ("EUR",)


def clean_invoice(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one invoice record (customer existence is checked by upsert_invoice)."""
    errors = v.Errors()
    clean: dict[str, Any] = {
        "number": v.text(data, "number", errors, required=True, max_length=40),
        "customer_number": v.text(data, "customer_number", errors, required=True, max_length=40),
        "issue_date": v.a_date(data, "issue_date", errors, required=True),
        "due_date": v.a_date(data, "due_date", errors, required=True),
        "total_amount": v.amount(data, "total_amount", errors, required=True),
        "currency": (v.text(data, "currency", errors, max_length=3) or "EUR").upper(),
        "description": v.text(data, "description", errors),
        "structured_reference": None,
    }
    if clean["currency"] not in SUPPORTED_CURRENCIES:
        errors.add("currency", _("Only invoices in euro are supported."))
    if clean["issue_date"] and clean["due_date"] and clean["due_date"] < clean["issue_date"]:
        errors.add("due_date", _("The due date cannot be before the issue date."))
    reference = v.text(data, "structured_reference", errors, max_length=30)
    if reference:
        try:
            clean["structured_reference"] = normalise_ogm(reference)
        except InvalidReference:
            errors.add("structured_reference", _(
                "Not a valid structured communication: %(value)s (12 digits, the last two "
                "being the remainder of the first ten divided by 97).", value=reference))
    errors.raise_if_any()
    return clean


# What has been paid on an invoice is payments' table (allocations), a layer above this one:
# app.payments.models registers how to sum it when it is imported (app/models.py imports every
# model, in every process), so the invoice rules below ask it instead of importing payments.
_paid_on_invoice: Callable[[int], Decimal] | None = None


def register_paid_amount(paid: Callable[[int], Decimal]) -> None:
    """``paid(invoice_id)``: the money allocated to that invoice and not reversed."""
    global _paid_on_invoice
    _paid_on_invoice = paid


def allocated_amount(invoice: Invoice) -> Decimal:
    if invoice.id is None or _paid_on_invoice is None:
        return ZERO
    return _paid_on_invoice(invoice.id)


def upsert_invoice(clean: Mapping[str, Any], customers: Mapping[str, Customer] | None = None,
                   invoices: Mapping[str, Invoice] | None = None, refresh: bool = True,
                   references: dict[str, Invoice] | None = None) -> tuple[Invoice, bool]:
    """Create the invoice, or update the one with the same ERP number. Caller commits.

    A bulk import passes ``customers`` and ``invoices`` (number -> record, preloaded: a number
    missing from ``invoices`` is a new invoice) to avoid queries per row, and ``refresh=False``
    to recompute each touched customer's balance once at the end (refresh_balance). It may pass
    ``references`` too (structured reference -> the invoice holding it, preloaded for every
    reference of the batch): an OGM is then checked free without a query, and the invoices of
    the batch are added to it as they take theirs.
    """
    customer = (customers or {}).get(clean["customer_number"]) or db.session.scalar(
        select(Customer).where(Customer.number == clean["customer_number"]))
    if customer is None:
        raise v.ValidationError({"customer_number": _(
            "Unknown customer number: %(number)s.", number=clean["customer_number"])})
    if invoices is not None:
        invoice = invoices.get(clean["number"])
    else:
        invoice = db.session.scalar(select(Invoice).where(Invoice.number == clean["number"]))
    created = invoice is None
    if created:
        invoice = Invoice(number=clean["number"], customer=customer, status="open")
        assign_references(invoice, clean.get("structured_reference"), references)
        db.session.add(invoice)
        paid = ZERO
    else:
        paid = allocated_amount(invoice)
        if invoice.customer_id != customer.id and paid:
            raise v.ValidationError({"customer_number": _(
                "Invoice %(number)s has payments booked; it cannot move to another customer.",
                number=invoice.number)})
        if clean["total_amount"] < paid:
            raise v.ValidationError({"total_amount": _(
                "%(paid)s is already paid on this invoice; the total cannot be lower.",
                paid=paid)})
        if clean.get("structured_reference") and clean["structured_reference"] != invoice.structured_reference:
            _check_reference_free(clean["structured_reference"], invoice.id, references, invoice)
            invoice.structured_reference = clean["structured_reference"]
            invoice.rf_reference = make_rf(clean["structured_reference"])
            if references is not None:
                references[invoice.structured_reference] = invoice
        previous_customer = invoice.customer
        invoice.customer = customer
        if previous_customer is not customer and refresh:
            db.session.flush()
            refresh_balance(previous_customer)
    _set_terms(invoice, clean)
    if invoice.status in OPEN_STATUSES or invoice.status == "paid" or created:
        set_open_amount(invoice, clean["total_amount"] - paid)
    if refresh:
        refresh_balance(customer)
    if invoices is not None and created and isinstance(invoices, dict):
        invoices[invoice.number] = invoice
    return invoice, created


def _set_terms(invoice: Invoice, clean: Mapping[str, Any]) -> None:
    invoice.issue_date = clean["issue_date"]
    invoice.due_date = clean["due_date"]
    invoice.total_amount = clean["total_amount"]
    invoice.currency = clean["currency"]
    invoice.description = clean["description"]


# What the rules set on a new invoice; the other columns keep their defaults (new_invoice_row).
NEW_INVOICE_COLUMNS = ("number", "customer_id", "status", "structured_reference",
                       "rf_reference", "issue_date", "due_date", "total_amount", "open_amount",
                       "currency", "description", "paid_on")


def new_invoice_row(clean: Mapping[str, Any], customer: Customer,
                    references: dict[str, Invoice]) -> dict[str, Any]:
    """A new invoice as a row for a set-wise INSERT (a bulk import of thousands): the rules of
    upsert_invoice's create branch (the OGM checked free in ``references`` and taken, the open
    amount and status), without an object in the session. ``customer`` has its id; the caller
    inserts the rows (``session.execute(insert(Invoice.__table__), rows)``, which the audit trail records
    as one bulk insert) and refreshes the balances.

    The rules run on a plain namespace, not an ORM Invoice: instrumented attributes cost more
    than the rules themselves over 10,000 rows (bench/einvoicing.py); ``references`` then holds
    that namespace for the new OGM (only its identity is compared)."""
    invoice = SimpleNamespace(number=clean["number"], customer_id=customer.id, status="open",
                              paid_on=None, structured_reference=None, rf_reference=None)
    assign_references(invoice, clean.get("structured_reference"), references)
    _set_terms(invoice, clean)
    set_open_amount(invoice, clean["total_amount"])
    return {column: getattr(invoice, column) for column in NEW_INVOICE_COLUMNS}


def _check_reference_free(reference: str, invoice_id: int | None,
                          references: Mapping[str, Invoice] | None = None,
                          invoice: Invoice | None = None) -> None:
    if references is not None:  # preloaded by a bulk import (see upsert_invoice)
        holder = references.get(reference)
        taken = holder is not None and holder is not invoice
    else:
        taken_id = db.session.scalar(select(Invoice.id).where(
            Invoice.structured_reference == reference))
        taken = taken_id is not None and taken_id != invoice_id
    if taken:
        raise v.ValidationError({"structured_reference": _(
            "This structured communication is already used by another invoice.")})


def assign_references(invoice: Invoice, structured_reference: str | None = None,
                      references: dict[str, Invoice] | None = None) -> None:
    """Give the invoice its OGM (the ERP's, when valid and free) and its RF reference."""
    if structured_reference:
        _check_reference_free(structured_reference, None, references, invoice)
        invoice.structured_reference = structured_reference
        invoice.rf_reference = make_rf(structured_reference)
        if references is not None:
            references[structured_reference] = invoice
        return
    (number,) = sequences.allocate(db.session, sequences.PAYMENT_REFERENCE, 1)
    invoice.structured_reference, invoice.rf_reference = references_for_number(number)


def set_open_amount(invoice: Invoice, open_amount: Decimal, paid_on: date | None = None) -> None:
    """One place for the status that follows from the open amount."""
    invoice.open_amount = max(open_amount, ZERO)
    if invoice.status in ("written_off", "cancelled"):
        return
    if invoice.open_amount == 0:
        invoice.status = "paid"
        invoice.paid_on = invoice.paid_on or paid_on or business_today()
    elif invoice.open_amount < invoice.total_amount:
        invoice.status, invoice.paid_on = "partially_paid", None
    else:
        invoice.status, invoice.paid_on = "open", None


def open_invoices(customer_id: int) -> Iterable[Invoice]:
    return db.session.scalars(
        select(Invoice).where(Invoice.customer_id == customer_id, invoice_is_open())
        .order_by(Invoice.due_date, Invoice.id)
    ).all()


def find_by_reference(text: str) -> Invoice | None:
    """An invoice by its number, OGM (typed any way) or RF reference."""
    from app.invoices.references import is_valid_ogm, normalise_ogm

    text = (text or "").strip()
    if not text:
        return None
    if is_valid_ogm(text):
        return db.session.scalar(select(Invoice).where(Invoice.structured_reference == normalise_ogm(text)))
    compact = text.replace(" ", "").upper()
    if compact.startswith("RF"):
        found = db.session.scalar(select(Invoice).where(Invoice.rf_reference == compact))
        if found:
            return found
    return db.session.scalar(select(Invoice).where(Invoice.number == text))


# --- what staff change on an invoice's own screen -------------------------------------------------
# Reminders stopped by hand ("Exclude from reminders", or the invoice form's box) need a reason
# and record who and when: the dry run shows them. The dunning screens call these too.
MAX_BLOCK_REASON = 1000


def exclude_from_reminders(invoice: Invoice, reason: str | None, by: str | None,
                           on: date | None = None) -> None:
    """Stop reminders for this invoice; the reason is shown in every dry run. Caller commits."""
    text = " ".join((reason or "").split())
    if not text:
        raise v.ValidationError({"reason": _("Say why reminders stop for this invoice.")})
    if len(text) > MAX_BLOCK_REASON:
        raise v.ValidationError({"reason": _("At most %(n)s characters.", n=MAX_BLOCK_REASON)})
    invoice.dunning_blocked = True
    invoice.dunning_block_reason = text
    invoice.dunning_blocked_by = (by or "")[:100] or None
    invoice.dunning_blocked_on = on or business_today()


def resume_reminders(invoice: Invoice) -> None:
    """Reminders resume for this invoice at the next run. Caller commits."""
    invoice.dunning_blocked = False
    invoice.dunning_block_reason = None
    invoice.dunning_blocked_by = None
    invoice.dunning_blocked_on = None


def set_reminder_block(invoice: Invoice, blocked: bool, reason: str | None,
                       by: str | None) -> None:
    """The invoice form's "Reminders blocked" box and its reason: ticked, the same rule as
    excluding it (a reason, who and when — a changed reason is a new exclusion by whoever
    changed it); unticked, reminders resume and the reason goes."""
    if blocked:
        text = " ".join((reason or "").split())
        if not invoice.dunning_blocked or text != (invoice.dunning_block_reason or ""):
            exclude_from_reminders(invoice, reason, by)
    elif invoice.dunning_blocked or invoice.dunning_block_reason:
        resume_reminders(invoice)


def set_disputed(invoice: Invoice, disputed: bool) -> None:
    """Mark the whole invoice disputed by hand, or not. While disputes recorded on it are open
    (its disputed amount), the flag follows them (app.requests.disputes): they are closed under
    Requests → Disputes, not unticked here."""
    if bool(disputed) == bool(invoice.disputed):
        return
    if not disputed and (invoice.disputed_amount or ZERO) > 0:
        raise v.ValidationError({"disputed": _(
            "Disputes are open on this invoice: close them under Requests → Disputes.")})
    invoice.disputed = bool(disputed)


def edit_invoice(invoice: Invoice, data: Mapping[str, Any], *, disputed: bool,
                 reminders_blocked: bool, block_reason: str | None,
                 by: str | None) -> Invoice:
    """Staff's edit of an invoice (its number and total stay: the total comes from the ERP, a
    reduction is a credit note): the invoice rules (clean_invoice, upsert_invoice), the RF
    reference following the structured communication, the disputed flag and the reminder block.
    ValidationError (per field) when refused; the caller rolls back and commits."""
    upsert_invoice(clean_invoice({**data, "number": invoice.number,
                                  "total_amount": invoice.total_amount}))
    if invoice.structured_reference and \
            invoice.rf_reference != make_rf(invoice.structured_reference):
        invoice.rf_reference = make_rf(invoice.structured_reference)
    set_disputed(invoice, disputed)
    set_reminder_block(invoice, reminders_blocked, block_reason, by)
    refresh_balance(invoice.customer)
    return invoice
