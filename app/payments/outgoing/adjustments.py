"""Credit notes issued by staff and write-offs, both under the approval limits of
app.core.approvals ("place of yes").

- A credit note is proposed (status "proposed": it does not count in the balance), then
  approved by someone whose limit covers its amount: it becomes "open" and is allocated to the
  invoice it names, then to the customer's other open invoices oldest first, through the same
  allocation consequences as payments (open amounts, paid status, promises kept, balances).
  What is left stays open: a credit the customer may use or get refunded.
- A write-off gives up the open amount of one invoice, with a reason (required, kept). Once
  approved the invoice is "written_off" with nothing open, so the dunning run no longer sees it.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from app.core.approvals import audit_decision, check_approval, may_approve
from app.core.i18n import money
from app.core.locking import claim, lock
from app.core.models import ZERO, utcnow
from app.core.sequences import allocate as next_numbers
from app.core.time import business_today
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.customers.services import refresh_balance
from app.extensions import db
from app.invoices.models import OPEN_STATUSES, CreditNote, Invoice
from app.invoices.services import open_invoices, set_open_amount
from app.payments.consequences import Consequences
from app.payments.models import Allocation
from app.payments.outgoing.models import WriteOff

CREDIT_NOTE_SEQUENCE = "credit_note"


def _amount(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError({"amount": _("Enter an amount, e.g. 125.50.")}) from None
    if amount <= 0:
        raise ValidationError({"amount": _("The amount must be more than zero.")})
    return amount


def _reason(value: str | None) -> str:
    reason = (value or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason.")})
    return reason[:2000]


# --- credit notes ----------------------------------------------------------------------------

def _credit_note_number() -> str:
    for _attempt in range(5):
        number = f"CN-{next_numbers(db.session, CREDIT_NOTE_SEQUENCE)[0]:06d}"
        if db.session.scalar(select(CreditNote.id).where(CreditNote.number == number)) is None:
            return number
    raise RuntimeError("no free credit note number")


def propose_credit_note(customer: Customer, amount: Any, reason: str | None, user: Any = None,
                        *, invoice: Invoice | None = None,
                        issue_date: date | None = None) -> CreditNote:
    """A credit note waiting for approval. Caller commits."""
    amount = _amount(amount)
    reason = _reason(reason)
    if invoice is not None and invoice.customer_id != customer.id:
        raise ValidationError({"invoice": _("Invoice %(invoice)s belongs to another customer.",
                                            invoice=invoice.number)})
    note = CreditNote(customer=customer, customer_id=customer.id, invoice=invoice,
                      number=_credit_note_number(), issue_date=issue_date or business_today(),
                      amount=amount, open_amount=amount, reason=reason, status="proposed")
    db.session.add(note)
    db.session.flush()
    audit_decision(user, "credit_note_proposed", "credit_note", note.id, customer.id,
                   f"{note.number} {money(amount)}")
    return note


def approve_credit_note(note: CreditNote, user: Any) -> list[Allocation]:
    """Approve (within the user's limit) and allocate; returns the allocations. Caller commits.

    The note is locked first (app/core/locking.py): approved twice at once, it is allocated
    once and the second approver is refused."""
    claim(note, ("proposed",), _("Only a credit note waiting for approval can be approved."))
    check_approval(user, "credit_note", note.amount)
    note.status, note.approved_by_id, note.approved_at = "open", getattr(user, "id", None), utcnow()
    audit_decision(user, "credit_note_approved", "credit_note", note.id, note.customer_id,
                   f"{note.number} {money(note.amount)}")
    return allocate_credit_note(note, user)


def reject_credit_note(note: CreditNote, user: Any) -> None:
    claim(note, ("proposed",), _("Only a credit note waiting for approval can be rejected."))
    note.status, note.open_amount = "rejected", ZERO
    audit_decision(user, "credit_note_rejected", "credit_note", note.id, note.customer_id,
                   note.number)


def issue_credit_note(customer: Customer, amount: Any, reason: str | None, user: Any, *,
                      invoice: Invoice | None = None,
                      issue_date: date | None = None) -> tuple[CreditNote, bool]:
    """A credit note typed by staff (Credit notes -> Add): proposed, then approved at once when
    the amount is within the user's approval limit, else left waiting for someone whose limit
    covers it. Returns (note, approved). Caller commits."""
    note = propose_credit_note(customer, amount, reason, user, invoice=invoice,
                               issue_date=issue_date)
    if not may_approve(user, "credit_note", note.amount):
        return note, False
    approve_credit_note(note, user)
    return note, True


def edit_credit_note(note: CreditNote, issue_date: date | None, reason: str | None) -> None:
    """What staff may change on a credit note (Credit notes -> Edit): its date and its reason,
    which stays required as when it was proposed; its amount and status go through the
    approval rules above. Caller commits."""
    if issue_date is None:
        raise ValidationError({"issue_date": _("This field is required.")})
    note.reason = _reason(reason)
    note.issue_date = issue_date
    refresh_balance(note.customer)


def allocate_credit_note(note: CreditNote, user: Any = None) -> list[Allocation]:
    """Apply an open credit note: to its invoice first, then oldest first."""
    invoices = [note.invoice] if note.invoice is not None else []
    invoices += [i for i in open_invoices(note.customer_id) if i is not note.invoice]
    consequences = Consequences(notify=False)
    made = []
    for invoice in invoices:
        if note.open_amount <= 0:
            break
        if invoice.status not in OPEN_STATUSES or invoice.open_amount <= 0:
            continue
        part = min(note.open_amount, invoice.open_amount)
        allocation = Allocation(credit_note=note, invoice=invoice, amount=part,
                                rule="credit_note", created_by_id=getattr(user, "id", None))
        db.session.add(allocation)
        note.open_amount -= part
        set_open_amount(invoice, invoice.open_amount - part, paid_on=note.issue_date)
        consequences.invoice_changed(invoice)
        made.append(allocation)
    if note.open_amount == ZERO:
        note.status = "allocated"
    consequences.customer_ids.add(note.customer_id)
    consequences.apply()
    return made


# --- write-offs --------------------------------------------------------------------------------

def propose_write_off(invoice: Invoice, reason: str | None, user: Any = None) -> WriteOff:
    """Propose giving up what is open on ``invoice``. Caller commits."""
    reason = _reason(reason)
    lock(invoice)  # proposed twice at once: one waits for approval, the other is refused
    if invoice.status not in OPEN_STATUSES or invoice.open_amount <= 0:
        raise ValidationError({"invoice": _("Invoice %(invoice)s has nothing open to write off.",
                                            invoice=invoice.number)})
    waiting = db.session.scalar(select(WriteOff.id).where(WriteOff.invoice_id == invoice.id,
                                                          WriteOff.status == "proposed"))
    if waiting is not None:
        raise ValidationError({"invoice": _(
            "A write-off of invoice %(invoice)s is already waiting for approval.",
            invoice=invoice.number)})
    write_off = WriteOff(invoice=invoice, customer_id=invoice.customer_id,
                         amount=invoice.open_amount, reason=reason, status="proposed",
                         proposed_by_id=getattr(user, "id", None))
    db.session.add(write_off)
    db.session.flush()
    audit_decision(user, "write_off_proposed", "write_off", write_off.id, invoice.customer_id,
                   f"{invoice.number} {money(write_off.amount)}")
    return write_off


def approve_write_off(write_off: WriteOff, user: Any, note: str | None = None) -> WriteOff:
    """Within the user's limit: the invoice is written off (nothing open, out of dunning).

    The write-off, then its invoice, are locked first: approved twice at once, or while a
    payment is booked on the invoice, it is decided on what is committed."""
    claim(write_off, ("proposed",), _("Only a proposed write-off can be approved."))
    lock(write_off.invoice)
    invoice = write_off.invoice
    if invoice.status not in OPEN_STATUSES or invoice.open_amount <= 0:
        raise ValidationError({"invoice": _("Invoice %(invoice)s has nothing open to write off.",
                                            invoice=invoice.number)})
    # A payment since the proposal lowers what is given up; never more than proposed.
    amount = min(write_off.amount, invoice.open_amount)
    if amount < invoice.open_amount:
        raise ValidationError({"amount": _(
            "More is open on invoice %(invoice)s than this write-off covers: propose it again.",
            invoice=invoice.number)})
    check_approval(user, "write_off", amount)
    write_off.amount = amount
    write_off.status, write_off.approved_by_id, write_off.approved_at = \
        "approved", getattr(user, "id", None), utcnow()
    write_off.decision_note = (note or "").strip() or None
    invoice.status = "written_off"
    set_open_amount(invoice, ZERO)
    consequences = Consequences(notify=False)
    consequences.invoice_changed(invoice)
    consequences.apply()
    audit_decision(user, "write_off_approved", "write_off", write_off.id, invoice.customer_id,
                   f"{invoice.number} {money(amount)}")
    return write_off


def reject_write_off(write_off: WriteOff, user: Any, note: str | None = None) -> WriteOff:
    claim(write_off, ("proposed",), _("Only a proposed write-off can be rejected."))
    write_off.status = "rejected"
    write_off.decision_note = (note or "").strip() or None
    audit_decision(user, "write_off_rejected", "write_off", write_off.id, write_off.customer_id,
                   write_off.invoice.number)
    return write_off
