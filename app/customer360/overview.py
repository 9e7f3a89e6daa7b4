"""The figures and facts at the top of a customer's 360° page (the timeline is timeline.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from app.core.models import ZERO
from app.core.time import business_today
from app.customers.models import Customer, Mandate
from app.customers.services import compute_balance
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open


@dataclass
class OpenInvoice:
    id: int
    number: str
    issue_date: date
    due_date: date
    open_amount: Decimal
    days_overdue: int
    dunning_level: int
    disputed: bool
    blocked: bool
    block_reason: str | None
    in_plan: bool = False
    deferred_to: date | None = None


@dataclass
class Overview:
    customer: Customer
    balance: Decimal
    overdue: Decimal
    overdue_count: int
    oldest_due: date | None
    oldest_days: int
    open_invoices: list[OpenInvoice]
    active_mandate: Mandate | None
    risk_flags: list[str] = field(default_factory=list)
    paused: bool = False


def customer_overview(customer: Customer, today: date | None = None,
                      invoice_limit: int = 200) -> Overview:
    today = today or business_today()
    rows = db.session.execute(
        select(Invoice.id, Invoice.number, Invoice.issue_date, Invoice.due_date,
               Invoice.open_amount, Invoice.dunning_level, Invoice.disputed,
               Invoice.dunning_blocked, Invoice.dunning_block_reason)
        .where(Invoice.customer_id == customer.id, invoice_is_open())
        .order_by(Invoice.due_date, Invoice.id).limit(invoice_limit)).all()
    invoices = [OpenInvoice(r.id, r.number, r.issue_date, r.due_date, r.open_amount,
                            max((today - r.due_date).days, 0), r.dunning_level or 0,
                            bool(r.disputed), bool(r.dunning_blocked), r.dunning_block_reason)
                for r in rows]
    _mark_plans_and_deferrals(invoices)
    overdue = [i for i in invoices if i.days_overdue > 0]
    mandate = db.session.scalar(select(Mandate).where(
        Mandate.customer_id == customer.id, Mandate.status == "active").limit(1))
    # Recomputed (one aggregate query, the rule of compute_balance) rather than the stored
    # balance, which a nightly job re-checks: staff act on what this page says.
    balance = compute_balance(customer.id)
    return Overview(
        customer=customer, balance=balance,
        overdue=sum((i.open_amount for i in overdue), ZERO), overdue_count=len(overdue),
        oldest_due=overdue[0].due_date if overdue else None,
        oldest_days=overdue[0].days_overdue if overdue else 0,
        open_invoices=invoices, active_mandate=mandate,
        risk_flags=list(customer.risk_flags or []),
        paused=bool(customer.dunning_paused_until and customer.dunning_paused_until >= today),
    )


def _mark_plans_and_deferrals(invoices: list[OpenInvoice]) -> None:
    if not invoices:
        return
    from app.requests.models import Deferral, PaymentPlan, plan_invoice

    ids = [i.id for i in invoices]
    in_plan = set(db.session.scalars(
        select(plan_invoice.c.invoice_id).join(PaymentPlan, PaymentPlan.id == plan_invoice.c.plan_id)
        .where(plan_invoice.c.invoice_id.in_(ids), PaymentPlan.status.in_(("proposed", "active")))))
    deferred = dict(db.session.execute(
        select(Deferral.invoice_id, Deferral.new_due_date)
        .where(Deferral.invoice_id.in_(ids), Deferral.status == "active")).all())
    for invoice in invoices:
        invoice.in_plan = invoice.id in in_plan
        invoice.deferred_to = deferred.get(invoice.id)
