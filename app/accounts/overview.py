"""The portal's overview page (the dashboard): balance, what is overdue, what comes next, open
requests and the one thing the customer should do now. Filtered by customer like every portal
read model (see invoice_states.py).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from app.accounts.invoice_states import CID, InvoiceState, open_invoice_states
from app.accounts.returned_payments import ReturnedPayment, returned_payment_notices
from app.core.i18n import day as _day
from app.core.i18n import money as _money
from app.core.models import ZERO
from app.core.time import business_today
from app.customers.models import Customer, Mandate
from app.extensions import db
from app.payments.models import Payment
from app.requests.models import (
    REQUEST_KINDS,
    REQUEST_STATUSES,
    CustomerRequest,
    Installment,
    PaymentPlan,
)

OPEN_REQUEST_STATUSES = ("received", "in_review")


@dataclass
class NextAction:
    kind: str          # pay_overdue / sign_mandate / pay_next / none
    text: str
    endpoint: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    button: str | None = None


@dataclass
class Dashboard:
    balance_due: Decimal  # negative: the customer has a credit with us
    overdue_amount: Decimal
    overdue_count: int
    payable_overdue: Decimal
    disputed_amount: Decimal
    next_due: InvoiceState | None
    open_requests: list[CustomerRequest]
    open_request_count: int
    next_action: NextAction
    # Money received from the customer not yet allocated to an invoice (deducted above).
    unallocated: Decimal = ZERO
    # A friendly proposal for customers flagged by the risk signals (app/selfservice/risk.py).
    risk_proposals: list[dict] = field(default_factory=list)
    # Payments the bank took back while the invoices they paid are still open.
    returned: list[ReturnedPayment] = field(default_factory=list)
    # The first unpaid instalment of an active payment plan: its invoices' own due dates no
    # longer apply, so "Next due date" is this one when it comes first.
    next_installment: Installment | None = None
    has_active_plan: bool = False

    @property
    def next_is_installment(self) -> bool:
        return self.next_installment is not None and (
            self.next_due is None or self.next_installment.due_date <= self.next_due.effective_due)

    @property
    def installment_left(self) -> Decimal:
        item = self.next_installment
        return (item.amount - (item.paid_amount or ZERO)) if item is not None else ZERO


def dashboard(customer: Customer, today: date | None = None) -> Dashboard:
    today = today or business_today()
    states = open_invoice_states(customer.id, today)
    credit_notes, unallocated, request_count, any_returned = db.session.execute(
        _dashboard_figures_query(), {"cid": customer.id}).one()
    unallocated = Decimal(unallocated or 0)
    # The rule of customers.services.balance_parts, with the open invoices already loaded.
    balance = sum((s.invoice.open_amount for s in states), ZERO) - Decimal(credit_notes or 0) \
        - unallocated
    overdue = [s for s in states if s.is_overdue]
    upcoming = sorted((s for s in states if not s.is_overdue and not s.in_plan and s.payable),
                      key=lambda s: (s.effective_due, s.invoice.id))
    requests = list(db.session.scalars(
        select(CustomerRequest).where(CustomerRequest.customer_id == customer.id,
                                      CustomerRequest.status.in_(OPEN_REQUEST_STATUSES))
        .order_by(CustomerRequest.created_at.desc()).limit(5))) if request_count else []
    board = Dashboard(
        balance_due=balance.quantize(Decimal("0.01")),
        unallocated=unallocated,
        overdue_amount=sum((s.invoice.open_amount for s in overdue), ZERO),
        overdue_count=len(overdue),
        payable_overdue=sum((s.payable for s in overdue), ZERO),
        disputed_amount=sum((s.disputed_amount for s in states), ZERO),
        next_due=upcoming[0] if upcoming else None,
        open_requests=requests,
        open_request_count=request_count,
        next_action=NextAction("none", ""),
    )
    if any(s.in_plan for s in states):
        board.next_installment = db.session.scalar(
            select(Installment).join(PaymentPlan, PaymentPlan.id == Installment.plan_id)
            .where(PaymentPlan.customer_id == customer.id, PaymentPlan.status == "active",
                   Installment.status != "paid")
            .order_by(Installment.due_date, Installment.id).limit(1))
        board.has_active_plan = True
    board.next_action = _next_action(customer, board)
    board.returned = returned_payment_notices(customer.id) if any_returned else []
    if customer.risk_flags:
        from app.selfservice.risk import portal_proposals

        board.risk_proposals = portal_proposals(customer)
    return board


@functools.cache
def _dashboard_figures_query():
    """Open credit notes, money received and not allocated, the number of open requests and
    whether any payment was returned, in one round trip (returned payments are rare: their
    own queries run only then)."""
    from app.customers.services import balance_parts

    _invoices, credit_notes, unallocated = balance_parts(CID)
    return select(
        credit_notes, unallocated,
        select(func.count(CustomerRequest.id)).where(
            CustomerRequest.customer_id == CID,
            CustomerRequest.status.in_(OPEN_REQUEST_STATUSES)).scalar_subquery(),
        select(Payment.id).where(Payment.customer_id == CID, Payment.status == "returned")
        .exists(),
    )


def _next_action(customer: Customer, board: Dashboard) -> NextAction:
    """The one thing the customer should do now, in order of urgency."""
    if board.payable_overdue > 0:
        return NextAction("pay_overdue", ngettext(
            "%(num)s invoice is overdue. Pay %(amount)s now to avoid reminders and costs.",
            "%(num)s invoices are overdue. Pay %(amount)s now to avoid reminders and costs.",
            board.overdue_count, amount=_money(board.payable_overdue)),
            "portal.pay_overdue", button=_("Pay the overdue invoices"))
    if customer.payment_method == "direct_debit" and not _has_active_mandate(customer.id):
        return NextAction("sign_mandate", _(
            "You chose direct debit, but we have no signed mandate yet. Sign it so that your "
            "invoices are paid on time automatically."),
            "portal.direct_debit", button=_("Sign the mandate"))
    if board.next_is_installment:
        item = board.next_installment
        return NextAction("pay_installment", _(
            "Next instalment of your payment plan: %(amount)s, due on %(date)s.",
            amount=_money(board.installment_left), date=_day(item.due_date)),
            "portal.plan", {"plan_id": item.plan_id}, _("See my payment plan"))
    if board.next_due is not None:
        state = board.next_due
        return NextAction("pay_next", _(
            "Next payment: %(amount)s for invoice %(number)s, due on %(date)s.",
            amount=_money(state.payable), number=state.invoice.number,
            date=_day(state.effective_due)),
            "portal.pay_invoice", {"invoice_id": state.invoice.id}, _("Pay this invoice"))
    return NextAction("none", _("You are all set: there is nothing to pay right now."))


def _has_active_mandate(customer_id: int) -> bool:
    return db.session.scalar(select(Mandate.id).where(
        Mandate.customer_id == customer_id, Mandate.status == "active").limit(1)) is not None


def request_label(req: CustomerRequest) -> tuple[str, str]:
    return (str(REQUEST_KINDS.get(req.kind, req.kind)),
            str(REQUEST_STATUSES.get(req.status, req.status)))
