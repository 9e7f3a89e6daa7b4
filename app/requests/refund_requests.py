"""Refund requests: a customer asks for their credit (money we owe them) to be paid back.

    refund_state(customer)                     # what the portal page shows (credit, account)
    request_refund(customer, amount, message)  # a "refund" CustomerRequest for staff
    on_refund_decision(req, approved, user)    # approved: a Refund, approved, in the next pain.001

The credit and the account are app.payments.outgoing.refunds' rules: the refundable credit (unallocated
money + open credit notes - open invoices - refunds already under way) and the usable refund
account only, never one still in its cool-off. What open refund requests already ask for is held
back, so two requests cannot ask for the same credit. Approving needs the approver's limit for
refunds (app.core.approvals) and a usable account at that moment; otherwise the decision is
refused and nothing changes. Rejecting changes nothing. The export re-checks the account.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from app.core import validation as v
from app.core.approvals import check_approval
from app.core.i18n import day, money
from app.core.locking import lock
from app.core.models import ZERO
from app.core.validation import ValidationError
from app.customers.bank_accounts import pending_refund_account, usable_refund_account
from app.customers.models import BankAccount, Customer
from app.extensions import db
from app.payments.outgoing.models import Refund
from app.payments.outgoing.refunds import (
    account_refusal,
    approve_refund,
    propose_refund,
    refundable,
)
from app.requests.models import CustomerRequest
from app.requests.reasons import subject_code
from app.requests.services import (
    COMMENT_MAX_CHARS,
    OPEN_STATUSES,
    open_request,
    register_decision_handler,
)

KIND = "refund"  # its answer time is requests.sla_hours.refund (app/requests/services.py)


@dataclass
class RefundState:
    """What a customer may ask for now: the credit left to ask for and where it would go."""

    available: Decimal
    account: BankAccount | None
    pending: BankAccount | None

    @property
    def may_ask(self) -> bool:
        return self.account is not None and self.available > 0


def requested(customer_id: int) -> Decimal:
    """What the customer's open refund requests ask for (not yet a Refund)."""
    total = ZERO
    for payload in db.session.scalars(select(CustomerRequest.payload).where(
            CustomerRequest.customer_id == customer_id, CustomerRequest.kind == KIND,
            CustomerRequest.status.in_(OPEN_STATUSES))):
        try:
            total += v.parse_amount((payload or {}).get("amount") or 0)
        except ValueError:
            continue
    return total


def requestable(customer: Customer) -> Decimal:
    return max(refundable(customer.id) - requested(customer.id), ZERO)


def refund_state(customer: Customer) -> RefundState:
    return RefundState(requestable(customer), usable_refund_account(customer),
                       pending_refund_account(customer))


def no_account_reason(customer: Customer) -> str:
    """Why the customer cannot ask now, in their words (the portal's language)."""
    pending = pending_refund_account(customer)
    if pending is not None:
        return _("For your security, your new refund account ending in %(last4)s can be used "
                 "only from %(when)s. You can ask for a refund from then on.",
                 last4=pending.iban[-4:], when=day(pending.active_from, "long"))
    return _("We have no bank account to refund you to. Please give us your refund bank "
             "account first.")


def request_refund(customer: Customer, amount: Any, message: str | None = None, *,
                   channel: str = "portal") -> CustomerRequest:
    """Ask for ``amount`` of the credit to be paid back; ValidationError: nothing changed.

    The customer is locked first: two requests sent at once cannot ask for the same credit.
    The caller commits."""
    lock(customer)
    account = usable_refund_account(customer)
    if account is None:
        raise ValidationError({"bank_account": no_account_reason(customer)})
    errors = v.Errors()
    value = v.amount({"amount": amount}, "amount", errors, required=True)
    message = (message or "").strip() or None
    if message and len(message) > COMMENT_MAX_CHARS:
        errors.add("message", _("At most %(max)d characters.", max=COMMENT_MAX_CHARS))
    errors.raise_if_any()
    available = requestable(customer)
    if available <= 0:
        raise ValidationError({"amount": _("There is no credit on your account to refund.")})
    if value > available:
        raise ValidationError({"amount": _("You can ask for at most %(amount)s.",
                                           amount=money(available))})
    return open_request(customer, KIND, channel=channel,
                        subject=_("Refund of %(amount)s", amount=money(value)),
                        subject_code=subject_code("refund", amount=value), message=message,
                        payload={"amount": str(value), "bank_account_id": account.id,
                                 "iban_last4": account.iban[-4:]})


def requested_amount(req: CustomerRequest) -> Decimal | None:
    """The amount asked for; None when the request names none (taken by staff: the whole credit)."""
    raw = (req.payload or {}).get("amount")
    if raw in (None, ""):
        return None
    try:
        return v.parse_amount(raw)
    except ValueError:
        raise ValidationError({"amount": _("The amount of this request is not readable: "
                                           "%(value)s.", value=str(raw)[:20])}) from None


def on_refund_decision(req: CustomerRequest, approved: bool, user: Any) -> Refund | None:
    """Staff decision on a "refund" request. Approving makes an approved Refund (source
    "request") that the next pain.001 export pays; refused (ValidationError, nothing changed)
    over the approver's limit, without a usable account, or above the credit left."""
    if not approved:
        return None
    lock(req.customer)
    existing = db.session.scalar(select(Refund).where(Refund.request_id == req.id,
                                                      Refund.status != "rejected"))
    if existing is not None:
        raise ValidationError({"status": _("A refund was already made for this request.")})
    customer = req.customer
    amount = requested_amount(req)
    if amount is None:
        amount = refundable(customer.id)
    if amount <= 0:
        raise ValidationError({"amount": _("The customer has no credit left to refund.")})
    check_approval(user, "refund", amount)
    if usable_refund_account(customer) is None:
        raise ValidationError({"bank_account": account_refusal(customer)})
    refund = propose_refund(customer, amount, user, source="request", request_id=req.id,
                            reason=req.message)
    return approve_refund(refund, user)


register_decision_handler(KIND, on_refund_decision)
