"""Payment rules: booking money received, allocating it to invoices, and taking it back.

One place for "book a payment and apply its consequences": ``book_payment``. The ERP's API
(post_payment), the admin form, the statement import (automatic matches), and staff matching by
hand all come here; what follows from an allocation (open amounts, promises kept, instalments,
balances, messages) is in ``app.payments.consequences``. Undo (``undo_allocation``) and bank
returns (``reverse_payment``) go back through the same rules. The caller commits.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy import select

from app.core import audit as audit_trail
from app.core import validation as v
from app.core.i18n import money
from app.core.models import ZERO, utcnow
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import OPEN_STATUSES, Invoice
from app.invoices.services import find_by_reference, open_invoices, set_open_amount
from app.payments.consequences import Consequences
from app.payments.models import PAYMENT_METHODS, Allocation, Payment
from app.requests.models import Installment

if TYPE_CHECKING:  # statement lines are money in's (payments.incoming builds on this module)
    from app.payments.incoming.models import StatementLine

OpenInvoices = Callable[[int], Sequence[Invoice]]
HOME_CURRENCY = "EUR"  # what a payment is in when nothing says otherwise


def currency_of(record) -> str:
    """A payment's or invoice's currency (an object not yet flushed has no default yet)."""
    return (getattr(record, "currency", None) or HOME_CURRENCY).upper()


def same_currency(payment, invoice) -> bool:
    """The rule: an invoice is settled only by money in its own currency. CHF 1,284.30 never
    pays EUR 1,284.30; converting is a person's decision (book the euro amount received)."""
    return currency_of(payment) == currency_of(invoice)


class OrmLedger:
    """Where bookings are stored, normally: ORM objects in the session (flushed with it).

    The statement import passes app.payments.incoming.bulk.BulkLedger instead, which stores the same
    bookings as rows written set-wise; the rules below do not know the difference.
    """

    @staticmethod
    def new_payment(**values: Any) -> Payment:
        payment = Payment(**values)
        db.session.add(payment)
        return payment

    @staticmethod
    def add_allocation(payment: Payment, invoice: Invoice, amount: Decimal, rule: str,
                       confidence: Decimal | None, user_id: int | None) -> Allocation:
        allocation = Allocation(payment=payment, invoice=invoice, amount=amount, rule=rule,
                                confidence=confidence, created_by_id=user_id)
        db.session.add(allocation)
        return allocation


ORM = OrmLedger()


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
    # A plan instalment's own structured communication pays that instalment (as statement
    # matching does); otherwise the plan would break although the customer paid.
    installments = _installments_by_reference(clean.get("reference")) if target is None else []
    customer = target.customer if target else (installments[0].plan.customer
                                               if installments else None)
    if clean.get("customer_number"):
        by_number = db.session.scalar(select(Customer).where(Customer.number == clean["customer_number"]))
        if by_number is None:
            raise v.ValidationError({"customer_number": _(
                "Unknown customer number: %(number)s.", number=clean["customer_number"])})
        if installments and customer.id != by_number.id:
            installments, customer = [], None  # another customer's instalment: not used
        if customer is not None and customer.id != by_number.id:
            raise v.ValidationError({"invoice_number": _(
                "Invoice %(invoice)s does not belong to customer %(customer)s.",
                invoice=target.number, customer=by_number.number)})
        customer = by_number
    payment = book_payment(
        amount=clean["amount"], received_on=clean["received_on"],
        customer_id=customer.id if customer else None, invoices=[target] if target else [],
        installments=installments,
        rule="reference" if target or installments else "oldest_first",
        method=clean.get("method") or "transfer",
        communication=clean.get("reference") or clean.get("invoice_number"),
        external_id=clean.get("external_id"), counterparty_name=clean.get("counterparty_name"),
        counterparty_iban=clean.get("counterparty_iban"))
    return payment, True


def _installments_by_reference(text: str | None) -> list[Installment]:
    from app.invoices.references import is_valid_ogm, normalise_ogm

    if not text or not is_valid_ogm(text):
        return []
    return list(db.session.scalars(select(Installment).where(
        Installment.structured_reference == normalise_ogm(text))))


# --- booking --------------------------------------------------------------------------------------

def book_payment(*, amount: Decimal, received_on: date, customer_id: int | None = None,
                 invoices: Iterable[Invoice] = (), installments: Iterable[Installment] = (),
                 rule: str = "manual", confidence: Decimal | None = None,
                 fill_oldest: bool = True, payment: Payment | None = None,
                 method: str = "transfer", communication: str | None = None,
                 counterparty_name: str | None = None, counterparty_iban: str | None = None,
                 external_id: str | None = None, statement_line: StatementLine | None = None,
                 currency: str | None = None,
                 user_id: int | None = None, consequences: Consequences | None = None,
                 open_invoices_of: OpenInvoices | None = None, ledger=ORM) -> Payment:
    """Book money received and apply it; the one place every front door comes to.

    The money goes to the plan instalments named (and their plan's invoices), then to the
    invoices named, in the order given; then, when ``fill_oldest``, to the customer's other open
    invoices oldest first. What is left stays on the payment: a credit on the customer's
    account, for a refund or the next invoice. Pass ``payment`` to book an existing unmatched
    payment (a statement line staff match by hand). Pass ``consequences`` to apply the
    consequences of many bookings at once (the statement import); otherwise they are applied
    before returning. ``ledger`` says where the result is stored (see OrmLedger). The payment
    is in ``currency`` (its statement line's; euros by default) and only pays invoices in that
    currency (``allocate`` refuses the others; oldest-first skips them).
    Caller commits.
    """
    if payment is None:
        payment = ledger.new_payment(
            amount=amount, unallocated_amount=amount, received_on=received_on, method=method,
            currency=(currency or getattr(statement_line, "currency", None)
                      or HOME_CURRENCY).upper(),
            status="unmatched", communication=communication, external_id=external_id,
            counterparty_name=counterparty_name, counterparty_iban=counterparty_iban,
            statement_line=statement_line)
    if customer_id is not None:
        payment.customer_id = customer_id
    apply_now = consequences is None
    consequences = consequences or Consequences()
    installments = list(installments)
    if installments and payment.unallocated_amount > 0:
        consequences.pay_installments(payment, installments, payment.unallocated_amount)
    for invoice in _unique(invoices):
        if payment.unallocated_amount <= 0:
            break
        if invoice.status in OPEN_STATUSES and invoice.open_amount > 0:
            allocate(payment, invoice, min(payment.unallocated_amount, invoice.open_amount), rule,
                     confidence, user_id, consequences=consequences, ledger=ledger)
    if fill_oldest and payment.customer_id is not None and payment.unallocated_amount > 0:
        others = (open_invoices_of or open_invoices)(payment.customer_id)
        allocate_oldest_first(payment, list(others), rule="oldest_first", confidence=confidence,
                              user_id=user_id, consequences=consequences, ledger=ledger)
    consequences.payment_booked(payment)
    if apply_now:
        consequences.apply()
    return payment


def allocate_oldest_first(payment: Payment, invoices: list[Invoice], rule: str,
                          confidence: Decimal | None = None, user_id: int | None = None,
                          consequences: Consequences | None = None, ledger=ORM) -> None:
    invoices = sorted((i for i in invoices if i.status in OPEN_STATUSES and i.open_amount > 0
                       and same_currency(payment, i)),
                      key=lambda i: (i.due_date, i.id or 0))
    for invoice in invoices:
        if payment.unallocated_amount <= 0:
            break
        allocate(payment, invoice, min(payment.unallocated_amount, invoice.open_amount), rule,
                 confidence, user_id, consequences=consequences, ledger=ledger)


def allocate(payment: Payment, invoice: Invoice, amount: Decimal, rule: str = "manual",
             confidence: Decimal | None = None, user_id: int | None = None,
             consequences: Consequences | None = None, ledger=ORM) -> Allocation | None:
    """Apply part of a payment to an invoice; open amounts and statuses follow.

    Without ``consequences`` the invoice's and customer's consequences (promise kept, balance)
    are applied at once; book_payment passes its own to apply them together.
    """
    if amount <= 0:
        return None
    if amount > payment.unallocated_amount or amount > invoice.open_amount:
        raise v.ValidationError({"amount": _("The amount is more than what is open.")})
    if payment.customer_id is not None and invoice.customer_id != payment.customer_id:
        raise v.ValidationError({"invoice": _(
            "Invoice %(invoice)s belongs to another customer.", invoice=invoice.number)})
    if not same_currency(payment, invoice):
        raise v.ValidationError({"invoice": _currency_refusal(payment, invoice)})
    allocation = ledger.add_allocation(payment, invoice, amount, rule, confidence, user_id)
    payment.unallocated_amount -= amount
    payment.status = "allocated" if payment.unallocated_amount == ZERO else "partially_allocated"
    set_open_amount(invoice, invoice.open_amount - amount, paid_on=payment.received_on)
    if consequences is None:
        own = Consequences(notify=False)
        own.invoice_changed(invoice)
        own.money_allocated(payment, invoice)
        own.apply()
    else:
        consequences.invoice_changed(invoice)
        consequences.money_allocated(payment, invoice)
    return allocation


def _currency_refusal(payment, invoice) -> str:
    return _("Invoice %(invoice)s is in %(invoice_currency)s and this payment is in "
             "%(currency)s: an invoice is settled only by money in its own currency.",
             invoice=invoice.number, invoice_currency=currency_of(invoice),
             currency=currency_of(payment))


def _unique(invoices: Iterable[Invoice]) -> list[Invoice]:
    return list({id(invoice): invoice for invoice in invoices if invoice is not None}.values())


def _payment_status(payment: Payment) -> str:
    if payment.status == "returned":
        return "returned"
    if not any(a.reversed_at is None for a in payment.allocations):
        return "unmatched"
    return "allocated" if payment.unallocated_amount == ZERO else "partially_allocated"


# --- staff: matching by hand, undoing ---------------------------------------------------------

def manual_match(payment: Payment, customer: Customer,
                 parts: Sequence[tuple[Invoice, Decimal]], user, *, rule: str = "manual",
                 confidence: Decimal | None = None, fill_oldest: bool = False,
                 note: str | None = None) -> list[Allocation]:
    """A person allocates a payment: to these invoices, these amounts (checked), for customer.

    One audit event per allocation. What is not allocated stays on the payment as the
    customer's credit. Caller commits.
    """
    if payment.status == "returned":
        raise v.ValidationError({"payment": _("This payment was returned by the bank.")})
    active = [a for a in payment.allocations if a.reversed_at is None]
    if payment.customer_id not in (None, customer.id) and active:
        raise v.ValidationError({"customer": _(
            "This payment is already allocated to another customer; undo those allocations "
            "first.")})
    _lock(invoice for invoice, _amount in parts)
    total = sum((amount for _invoice, amount in parts), ZERO)
    errors = v.Errors()
    for invoice, amount in parts:
        if invoice.customer_id != customer.id:
            errors.add("invoice", _("Invoice %(invoice)s belongs to another customer.",
                                    invoice=invoice.number))
        elif not same_currency(payment, invoice):
            errors.add("invoice", _currency_refusal(payment, invoice))
        elif amount <= 0:
            errors.add("amount", _("Amounts must be more than zero."))
        elif amount > invoice.open_amount:
            errors.add("amount", _("%(amount)s is more than the %(open)s open on invoice "
                                   "%(invoice)s.", amount=money(amount),
                                   open=money(invoice.open_amount), invoice=invoice.number))
    if total > payment.unallocated_amount:
        errors.add("amount", _("%(total)s is more than the %(left)s left on this payment.",
                               total=money(total, currency_of(payment)),
                               left=money(payment.unallocated_amount, currency_of(payment))))
    errors.raise_if_any()
    payment.customer_id = customer.id
    consequences = Consequences()
    made = []
    user_id = getattr(user, "id", None)
    for invoice, amount in parts:
        made.append(allocate(payment, invoice, amount, rule, confidence, user_id,
                             consequences=consequences))
    if fill_oldest and payment.unallocated_amount > 0:
        before = len(payment.allocations)
        allocate_oldest_first(payment, list(open_invoices(customer.id)), "oldest_first",
                              confidence, user_id, consequences=consequences)
        made.extend(payment.allocations[before:])
    line = payment.statement_line
    if line is not None:
        line.status, line.customer_id = "matched", customer.id
        line.match_rule, line.match_confidence = rule, confidence or Decimal("1.000")
        line.reviewed_at, line.reviewed_by_id = utcnow(), user_id
    consequences.payment_booked(payment)
    db.session.flush()
    for allocation in made:
        audit(user, "manual_match", allocation, ["payment_id", "invoice_id", "amount"],
              _("%(amount)s of payment %(payment)s to invoice %(invoice)s (%(rule)s).",
                amount=money(allocation.amount), payment=payment.id,
                invoice=allocation.invoice.number, rule=rule) + (f" {note}" if note else ""))
    consequences.apply()
    return made


def undo_allocation(allocation: Allocation, user, reason: str) -> None:
    """Take an allocation back: the invoice is open again, the money is credit on the payment.

    When a statement payment has nothing allocated any more, its line goes back to the
    unmatched queue. One audit event. Caller commits.
    """
    reason = (reason or "").strip()
    if not reason:
        raise v.ValidationError({"reason": _("Say why the allocation is undone.")})
    if allocation.reversed_at is not None:
        raise v.ValidationError({"allocation": _("This allocation was already undone.")})
    consequences = Consequences(notify=False)
    _reverse(allocation, reason[:1000], consequences)
    payment = allocation.payment
    if payment is not None:
        payment.status = _payment_status(payment)
        if payment.status == "unmatched":
            consequences.unpay_installments(payment)
            line = payment.statement_line
            if line is not None:
                # Back to the queue; the customer stays on the line as a hint.
                line.status, line.match_rule, line.match_confidence = "unmatched", None, None
                line.note = _("Allocation undone: %(reason)s", reason=reason[:200])
                if payment.customer_id:
                    consequences.customer_ids.add(payment.customer_id)
                payment.customer_id = None
    audit(user, "undo", allocation, ["reversed_at", "reversal_reason"],
          _("%(amount)s on invoice %(invoice)s undone: %(reason)s",
            amount=money(allocation.amount),
            invoice=allocation.invoice.number, reason=reason[:500]))
    consequences.apply()


def _reverse(allocation: Allocation, reason: str, consequences: Consequences) -> None:
    allocation.reversed_at, allocation.reversal_reason = utcnow(), reason
    invoice = allocation.invoice
    _lock([invoice])
    set_open_amount(invoice, invoice.open_amount + allocation.amount)
    consequences.invoice_changed(invoice)
    if allocation.payment is not None:
        allocation.payment.unallocated_amount += allocation.amount
    if allocation.credit_note is not None:
        allocation.credit_note.open_amount += allocation.amount
        allocation.credit_note.status = "open"


def apply_credit(payment: Payment, user) -> list[Allocation]:
    """Use a payment's credit for the customer's open invoices, oldest first (staff action)."""
    if payment.customer_id is None or payment.unallocated_amount <= 0:
        raise v.ValidationError({"payment": _("This payment has no credit to apply.")})
    invoices = [i for i in open_invoices(payment.customer_id) if same_currency(payment, i)]
    if not invoices:
        raise v.ValidationError({"payment": _("The customer has no open invoice.")})
    customer = db.session.get(Customer, payment.customer_id)
    parts = []
    left = payment.unallocated_amount
    for invoice in sorted(invoices, key=lambda i: (i.due_date, i.id)):
        if left <= 0:
            break
        part = min(left, invoice.open_amount)
        parts.append((invoice, part))
        left -= part
    return manual_match(payment, customer, parts, user, rule="credit_applied")


# --- bank returns and reversals ------------------------------------------------------------------

def reverse_payment(payment: Payment, *, reason_code: str | None, line: StatementLine | None,
                    consequences: Consequences) -> list[Invoice]:
    """The bank took the money back (a returned direct debit, a reversed transfer).

    Every allocation is undone (the invoices are open again, reminders resume), instalments it
    paid are due again, and the payment shows as returned, with the bank's reason, to staff and
    to the customer. Returns the re-opened invoices.
    """
    reason = _("Returned by the bank (%(code)s).", code=reason_code or "?")
    reopened = []
    for allocation in payment.allocations:
        if allocation.reversed_at is None:
            _reverse(allocation, reason, consequences)
            reopened.append(allocation.invoice)
    consequences.unpay_installments(payment)
    payment.status, payment.returned_at = "returned", utcnow()
    payment.return_reason = (reason_code or "")[:10] or None
    payment.return_line_id = line.id if line is not None else None
    payment.unallocated_amount = ZERO
    if payment.customer_id:
        consequences.customer_ids.add(payment.customer_id)
    return reopened


def returned_payments(customer_id: int) -> list[Payment]:
    """The customer's payments the bank took back (returned direct debits first of all), most
    recent first: what the portal and the customer's API show as "returned", with the reason."""
    return list(db.session.scalars(
        select(Payment).where(Payment.customer_id == customer_id, Payment.status == "returned")
        .order_by(Payment.returned_at.desc(), Payment.id.desc())))


# --- audit ----------------------------------------------------------------------------------------

def audit(user, action: str, allocation: Allocation, fields: list[str], detail: str) -> None:
    """A business event next to the automatic ones (app.core.audit records the rows)."""
    customer_id = allocation.invoice.customer_id if allocation.invoice else None
    audit_trail.record(action, "allocation", allocation.id, customer_id=customer_id,
                       fields=fields, detail=detail, user=user)


def _lock(invoices: Iterable[Invoice]) -> None:
    """Re-read the invoices under a row lock (PostgreSQL) before their open amounts are used, so
    that two people allocating to the same invoice at once cannot both take the same amount."""
    ids = [invoice.id for invoice in invoices if invoice is not None and invoice.id is not None]
    if ids and db.engine.dialect.name == "postgresql":
        db.session.scalars(select(Invoice).where(Invoice.id.in_(ids)).with_for_update()
                           .execution_options(populate_existing=True)).all()
