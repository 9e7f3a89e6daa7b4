"""Refunds: paying back a customer's credit, by SEPA credit transfer (pain.001.001.03).

    propose_from_credit_balances(user)      # one proposal per customer in credit
    propose_refund(customer, amount, user)  # staff, or an approved customer request
    approve_refund(refund, user)            # place of yes + a usable account, or refused
    export_refunds(user)                    # the pain.001 file of the approved refunds

The account comes from ``app.customers.bank_accounts.usable_refund_account`` only: an ACTIVE
refund account whose cool-off has passed. A refund is never approved to a pending account,
and an account that changed after approval (a new one activated, the old one retired) blocks
the export: a person must approve the refund again for the new account.

Credit = money received and not allocated + open credit notes - open invoices - refunds
already proposed or approved. The credits a refund uses are consumed when it is exported
(payments' unallocated amounts, then credit notes), and recorded on the refund.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.core.approvals import audit_decision, check_approval
from app.core.i18n import day, money
from app.core.locking import claim, lock, lock_rows
from app.core.models import ZERO, utcnow
from app.core.settings import company_details, get_setting, register_setting
from app.core.time import business_today
from app.core.validation import ValidationError
from app.customers.bank_accounts import pending_refund_account, usable_refund_account
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import CreditNote, Invoice, invoice_is_open
from app.payments.consequences import refresh_balances
from app.payments.models import Payment
from app.payments.outgoing.models import CreditTransferBatch, Refund
from app.payments.outgoing.sepa_xml import CreditTransaction, Party, TransferFile, transfer_xml

register_setting("refunds.minimum_amount", Decimal("1.00"), "money",
                 _l("Smallest credit balance proposed for a refund"), "payments")

PENDING = ("proposed", "approved")


# --- credit -----------------------------------------------------------------------------------

def _sum(query) -> Decimal:
    return Decimal(db.session.scalar(query) or 0).quantize(Decimal("0.01"))


def credits_held(customer_id: int) -> tuple[Decimal, Decimal]:
    """(money received not allocated, open credit notes) of the customer."""
    payments = _sum(select(func.sum(Payment.unallocated_amount)).where(
        Payment.customer_id == customer_id, Payment.status != "returned",
        Payment.unallocated_amount > 0))
    notes = _sum(select(func.sum(CreditNote.open_amount)).where(
        CreditNote.customer_id == customer_id, CreditNote.status == "open"))
    return payments, notes


def refundable(customer_id: int, *, ignoring: Refund | None = None) -> Decimal:
    """What may still be refunded to the customer (never below zero)."""
    payments, notes = credits_held(customer_id)
    invoices = _sum(select(func.sum(Invoice.open_amount)).where(
        Invoice.customer_id == customer_id, invoice_is_open()))
    query = select(func.sum(Refund.amount)).where(Refund.customer_id == customer_id,
                                                 Refund.status.in_(PENDING))
    if ignoring is not None and ignoring.id is not None:
        query = query.where(Refund.id != ignoring.id)
    return max(payments + notes - invoices - _sum(query), ZERO)


# --- proposing ----------------------------------------------------------------------------------

def propose_refund(customer: Customer, amount: Decimal | None, user: Any = None, *,
                   source: str = "manual", request_id: int | None = None,
                   reason: str | None = None) -> Refund:
    """A refund proposal (nothing is paid until approved and exported). Caller commits.

    The customer is locked first: two proposals at once cannot share out the same credit."""
    lock(customer)
    available = refundable(customer.id)
    amount = available if amount is None else Decimal(amount).quantize(Decimal("0.01"))
    if amount <= 0:
        raise ValidationError({"amount": _("The amount must be more than zero.")})
    if amount > available:
        raise ValidationError({"amount": _(
            "%(amount)s is more than the customer's credit that can be refunded (%(left)s).",
            amount=money(amount), left=money(available))})
    refund = Refund(customer=customer, customer_id=customer.id, amount=amount,
                    status="proposed", source=source, request_id=request_id,
                    reason=(reason or "").strip() or None,
                    proposed_by_id=getattr(user, "id", None))
    db.session.add(refund)
    db.session.flush()
    audit_decision(user, "refund_proposed", "refund", refund.id, customer.id, money(amount))
    return refund


def propose_from_credit_balances(user: Any = None) -> list[Refund]:
    """A proposal for every customer whose refundable credit reaches refunds.minimum_amount.

    Idempotent: credit already proposed is not proposed again. Caller commits."""
    minimum = Decimal(str(get_setting("refunds.minimum_amount")))
    candidates = set(db.session.scalars(select(Payment.customer_id).where(
        Payment.customer_id.is_not(None), Payment.status != "returned",
        Payment.unallocated_amount > 0).distinct()))
    candidates |= set(db.session.scalars(select(CreditNote.customer_id).where(
        CreditNote.status == "open", CreditNote.open_amount > 0).distinct()))
    made = []
    for customer_id in sorted(candidates):
        amount = refundable(customer_id)
        if amount >= minimum and amount > 0:
            customer = db.session.get(Customer, customer_id)
            if customer.legal_status != "none":
                continue  # insolvency, agency, proceedings: a person decides, not a batch
            made.append(propose_refund(customer, amount, user, source="credit_balance"))
    return made


# --- deciding -----------------------------------------------------------------------------------

def account_refusal(customer: Customer) -> str:
    pending = pending_refund_account(customer)
    if pending is not None:
        return _("The customer's refund account ending in %(last4)s is new and still in its "
                 "cool-off period (until %(until)s): no refund can go to it before then.",
                 last4=pending.iban[-4:], until=day(pending.active_from))
    return _("The customer has no active refund bank account.")


def approve_refund(refund: Refund, user: Any, note: str | None = None) -> Refund:
    """Approve within the user's limit, to the usable refund account; else ValidationError
    and nothing changes. Caller commits.

    The customer, then the refund, are locked first (app/core/locking.py): a refund approved
    twice at once is approved once, and two refunds of one customer approved at once are
    checked against the credit one after the other."""
    lock(refund.customer)
    claim(refund, ("proposed",), _("Only a proposed refund can be approved."))
    check_approval(user, "refund", refund.amount)
    if refund.amount > refundable(refund.customer_id, ignoring=refund):
        raise ValidationError({"amount": _(
            "The customer's credit is now smaller than this refund.")})
    account = usable_refund_account(refund.customer)
    if account is None:
        raise ValidationError({"bank_account": account_refusal(refund.customer)})
    refund.bank_account, refund.iban, refund.bic = account, account.iban, account.bic
    refund.status, refund.approved_by_id, refund.approved_at = \
        "approved", getattr(user, "id", None), utcnow()
    refund.decision_note = (note or "").strip() or None
    audit_decision(user, "refund_approved", "refund", refund.id, refund.customer_id,
                   money(refund.amount))
    return refund


def reject_refund(refund: Refund, user: Any, note: str | None = None) -> Refund:
    claim(refund, PENDING, _("This refund can no longer be rejected."))
    refund.status = "rejected"
    refund.decision_note = (note or "").strip() or None
    audit_decision(user, "refund_rejected", "refund", refund.id, refund.customer_id,
                   money(refund.amount))
    return refund


# --- exporting ----------------------------------------------------------------------------------

@dataclass
class ExportResult:
    batch: CreditTransferBatch | None = None
    blocked: list[tuple[Refund, str]] = field(default_factory=list)


def export_blocker(refund: Refund) -> str | None:
    """Why an approved refund may not be paid now, or None."""
    account = usable_refund_account(refund.customer)
    if account is None:
        return account_refusal(refund.customer)
    if account.id != refund.bank_account_id or account.iban != refund.iban:
        return _("The refund account changed after this refund was approved: it must be "
                 "approved again for the new account.")
    if refund.amount > refundable(refund.customer_id, ignoring=refund):
        return _("The customer's credit is now smaller than this refund.")
    return None


def export_refunds(user: Any = None, execution_date: date | None = None) -> ExportResult:
    """The pain.001 file of every approved refund that may be paid; the others stay approved
    and are reported with the reason. Caller commits.

    The approved refunds are locked first: two exports started at once put each refund in one
    file only (the second finds nothing left to export)."""
    result = ExportResult()
    approved = db.session.scalars(select(Refund.id).where(Refund.status == "approved"))
    refunds = [r for r in lock_rows(Refund, approved) if r.status == "approved"]
    ready = []
    for refund in refunds:
        reason = export_blocker(refund)
        if reason is None:
            ready.append(refund)
        else:
            result.blocked.append((refund, reason))
    if not ready:
        return result
    company = company_details()
    batch = CreditTransferBatch(execution_date=execution_date or business_today(),
                                created_by_id=getattr(user, "id", None))
    db.session.add(batch)
    db.session.flush()
    batch.message_id = f"CDRF-{batch.id}-{batch.execution_date:%Y%m%d}"
    spec = TransferFile(
        message_id=batch.message_id, payment_info_id=f"RF-{batch.execution_date:%Y%m%d}-{batch.id}",
        created_at=utcnow(), execution_date=batch.execution_date,
        debtor=Party(company.get("name") or "", company.get("iban") or "",
                     company.get("bic") or None))
    for refund in ready:
        refund.end_to_end_id = f"RF-{refund.id}"
        spec.transactions.append(CreditTransaction(
            end_to_end_id=refund.end_to_end_id, amount=refund.amount,
            creditor=Party(refund.bank_account.holder or refund.customer.name, refund.iban,
                           refund.bic),
            remittance=_("Refund %(id)s, customer %(number)s", id=refund.id,
                         number=refund.customer.number)))
        _consume(refund)
        refund.status, refund.batch, refund.exported_at = "exported", batch, utcnow()
    batch.transaction_count = len(ready)
    batch.total_amount = sum((r.amount for r in ready), ZERO)
    batch.file_xml = transfer_xml(spec).decode("utf-8")
    refresh_balances({r.customer_id for r in ready})
    result.batch = batch
    return result


def _consume(refund: Refund) -> None:
    """Use up the customer's credits for the refund: unallocated money first, oldest first."""
    left = refund.amount
    used: list[dict[str, str | int]] = []
    payments = db.session.scalars(select(Payment).where(
        Payment.customer_id == refund.customer_id, Payment.status != "returned",
        Payment.unallocated_amount > 0).order_by(Payment.received_on, Payment.id)).all()
    for payment in payments:
        part = min(left, payment.unallocated_amount)
        if part <= 0:
            break
        payment.unallocated_amount -= part
        if payment.unallocated_amount == ZERO:
            payment.status = "allocated"
        used.append({"payment_id": payment.id, "amount": str(part)})
        left -= part
    notes = db.session.scalars(select(CreditNote).where(
        CreditNote.customer_id == refund.customer_id, CreditNote.status == "open",
        CreditNote.open_amount > 0).order_by(CreditNote.issue_date, CreditNote.id)).all()
    for note in notes:
        part = min(left, note.open_amount)
        if part <= 0:
            break
        note.open_amount -= part
        if note.open_amount == ZERO:
            note.status = "refunded"
        used.append({"credit_note_id": note.id, "amount": str(part)})
        left -= part
    refund.consumed = used


def mark_paid(refund: Refund, user: Any = None) -> None:
    """The transfer left our account (seen on the statement, or confirmed by the bank)."""
    claim(refund, ("exported",), _("Only a refund sent to the bank can be marked paid."))
    refund.status, refund.paid_at = "paid", utcnow()
    audit_decision(user, "refund_paid", "refund", refund.id, refund.customer_id,
                   money(refund.amount))
