"""Risk signals from our own data only, and a friendly proposal to flagged customers.

Signals (every threshold is a setting, category "risk"):
* ``late_payer``: at least ``risk.late_count`` of the customer's last ``risk.late_window``
  invoices that fell due were paid (or are still open) more than ``risk.late_days`` days late;
* ``broken_promise``: a deferral or payment plan broken in the last ``risk.lookback_days``;
* ``returned_debit``: a payment (direct debit) returned by the bank in that period;
* ``growing_balance``: what is overdue (by more than ``risk.late_days``) is at least
  ``risk.growth_min_balance`` today and more than ``risk.growth_ratio`` times what was overdue
  ``risk.growth_days`` days ago.

The thresholds leave a list a person can call in a day: on the demo data (31 customers) about
seven, not 28 (tests/customers360/test_customers_to_call.py). Invoicing more than was paid in a
quarter is how every customer on 30-day terms looks, so it is no reason to call on its own.

``refresh_risk_flags()`` (daily job) stores the flags on Customer.risk_flags with a few
set-based queries, and queues one proactive proposal per flagged customer and month
(``notify_risk_proposal``; the idempotency key holds the month). Staff see the flagged
customers in a list to call; the customer sees the proposal on the portal dashboard.
"""
from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, case, cast, func, literal, or_, select

from app.core.settings import get_setting, register_setting
from app.core.time import business_today
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open

log = logging.getLogger(__name__)

FLAG_LABELS = {
    "late_payer": _l("Pays late repeatedly"),
    "broken_promise": _l("Broke a promise or a plan"),
    "returned_debit": _l("Direct debit returned"),
    "growing_balance": _l("Growing balance"),
}
register_setting("risk.late_days", 30, "days",
                 _l("Risk: an invoice paid more than this many days late counts as late"), "risk")
register_setting("risk.late_window", 6, "int",
                 _l("Risk: how many of the last invoices are looked at"), "risk")
register_setting("risk.late_count", 3, "int",
                 _l("Risk: this many late invoices among them flag a recurring late payer"),
                 "risk")
register_setting("risk.lookback_days", 365, "days",
                 _l("Risk: broken promises and returned debits count for this many days"),
                 "risk")
register_setting("risk.growth_days", 90, "days",
                 _l("Risk: period over which invoicing and payments are compared (days)"), "risk")
register_setting("risk.growth_ratio", Decimal("1.5"), "decimal",
                 _l("Risk: growing balance when invoiced exceeds paid by this factor"), "risk")
register_setting("risk.growth_min_balance", Decimal("5000.00"), "money",
                 _l("Risk: a growing balance is flagged from this overdue amount on"), "risk")
register_setting("risk.send_proposals", True, "bool",
                 _l("Risk: send flagged customers a friendly proposal (once a month)"), "risk")


def _late_condition(today: date, days: int):
    """Paid (or, if still open, today) more than ``days`` after the due date, in SQL."""
    settled = func.coalesce(Invoice.paid_on, literal(today))
    if db.engine.dialect.name == "sqlite":
        return func.julianday(settled) - func.julianday(Invoice.due_date) > days
    return settled - Invoice.due_date > days


def late_payers(today: date | None = None, customer_ids: list[int] | None = None) -> set[int]:
    today = today or business_today()
    window = int(get_setting("risk.late_window"))
    needed = int(get_setting("risk.late_count"))
    late_days = int(get_setting("risk.late_days"))
    ranked = (select(Invoice.customer_id,
                     case((_late_condition(today, late_days), 1), else_=0).label("late"),
                     func.row_number().over(partition_by=Invoice.customer_id,
                                            order_by=(Invoice.due_date.desc(),
                                                      Invoice.id.desc())).label("n"))
              .where(Invoice.due_date < today, Invoice.status != "cancelled"))
    if customer_ids is not None:
        ranked = ranked.where(Invoice.customer_id.in_(customer_ids))
    ranked = ranked.subquery()
    return set(db.session.scalars(
        select(ranked.c.customer_id).where(ranked.c.n <= window)
        .group_by(ranked.c.customer_id).having(func.sum(ranked.c.late) >= needed)))


def broken_promises(today: date | None = None, customer_ids: list[int] | None = None) -> set[int]:
    from app.requests.models import Deferral, PaymentPlan

    today = today or business_today()
    since = today - timedelta(days=int(get_setting("risk.lookback_days")))
    deferrals = select(Deferral.customer_id).where(Deferral.status == "broken",
                                                   Deferral.new_due_date >= since)
    plans = select(PaymentPlan.customer_id).where(PaymentPlan.status == "broken", or_(
        PaymentPlan.broken_on.is_(None), PaymentPlan.broken_on >= since))
    if customer_ids is not None:
        deferrals = deferrals.where(Deferral.customer_id.in_(customer_ids))
        plans = plans.where(PaymentPlan.customer_id.in_(customer_ids))
    return set(db.session.scalars(deferrals)) | set(db.session.scalars(plans))


def returned_debits(today: date | None = None, customer_ids: list[int] | None = None) -> set[int]:
    from app.payments.models import Payment

    today = today or business_today()
    since = today - timedelta(days=int(get_setting("risk.lookback_days")))
    query = select(Payment.customer_id).where(Payment.returned_at.is_not(None),
                                              Payment.received_on >= since,
                                              Payment.customer_id.is_not(None)).distinct()
    if customer_ids is not None:
        query = query.where(Payment.customer_id.in_(customer_ids))
    return set(db.session.scalars(query))


def _overdue_now(today: date, late_days: int):
    """customer_id, overdue: open amounts due more than ``late_days`` days ago."""
    return (select(Invoice.customer_id, func.sum(Invoice.open_amount).label("total"))
            .where(invoice_is_open(),
                   Invoice.due_date < today - timedelta(days=late_days))
            .group_by(Invoice.customer_id))


def growing_balances(today: date | None = None, customer_ids: list[int] | None = None
                     ) -> set[int]:
    today = today or business_today()
    then = today - timedelta(days=int(get_setting("risk.growth_days")))
    late_days = int(get_setting("risk.late_days"))
    ratio = Decimal(str(get_setting("risk.growth_ratio")))
    minimum = Decimal(str(get_setting("risk.growth_min_balance")))
    now = _overdue_now(today, late_days)
    # Overdue back then: invoices already late at that date and not yet paid on it.
    before = (select(Invoice.customer_id, func.sum(Invoice.total_amount).label("total"))
              .where(Invoice.status != "cancelled",
                     Invoice.due_date < then - timedelta(days=late_days),
                     or_(Invoice.paid_on.is_(None), Invoice.paid_on > then))
              .group_by(Invoice.customer_id))
    if customer_ids is not None:
        now = now.where(Invoice.customer_id.in_(customer_ids))
        before = before.where(Invoice.customer_id.in_(customer_ids))
    now, before = now.subquery(), before.subquery()
    query = (select(now.c.customer_id)
             .outerjoin(before, before.c.customer_id == now.c.customer_id)
             .where(now.c.total >= minimum,
                    now.c.total > func.coalesce(before.c.total, 0) * ratio))
    return set(db.session.scalars(query))


SIGNALS = {"late_payer": late_payers, "broken_promise": broken_promises,
           "returned_debit": returned_debits, "growing_balance": growing_balances}


def signals(today: date | None = None, customer_ids: list[int] | None = None
            ) -> dict[int, list[str]]:
    """customer id -> the flags it has today (customers without a flag are left out)."""
    found: dict[int, list[str]] = {}
    for flag, finder in SIGNALS.items():
        for cid in finder(today, customer_ids):
            found.setdefault(cid, []).append(flag)
    return found


def flags_for(customer: Customer, today: date | None = None) -> list[str]:
    return signals(today, [customer.id]).get(customer.id, [])


def has_flags_clause():
    """SQL: the customer has at least one stored risk flag (JSON list, compared as text)."""
    text = func.coalesce(cast(Customer.risk_flags, String), "[]")
    return text.not_in(("[]", "null"))


def refresh_risk_flags(today: date | None = None) -> dict[str, int]:
    """Daily job: store today's flags; propose help to flagged customers (once a month)."""
    today = today or business_today()
    found = signals(today)
    stored = {cid: list(flags or []) for cid, flags in db.session.execute(
        select(Customer.id, Customer.risk_flags).where(has_flags_clause()))}
    changed = 0
    for cid in set(found) | set(stored):
        new = sorted(found.get(cid, []))
        if sorted(stored.get(cid, [])) != new:
            db.session.execute(Customer.__table__.update().where(Customer.id == cid)
                               .values(risk_flags=new))
            changed += 1
    db.session.commit()
    proposed = 0
    if get_setting("risk.send_proposals"):
        for cid in sorted(found):
            customer = db.session.get(Customer, cid)
            if propose_help(customer, today):
                proposed += 1
            db.session.commit()
    log.info("risk flags: %s flagged, %s changed, %s proposals", len(found), changed, proposed)
    return {"flagged": len(found), "changed": changed, "proposed": proposed}


# --- the proposal ------------------------------------------------------------------------------

def proposals_for(customer: Customer, today: date | None = None) -> list[str]:
    """Which helpful changes fit this customer: "due_date", "direct_debit", "plan"."""
    today = today or business_today()
    found = []
    if customer.kind == "person":
        found.append("due_date")
    from app.customers.models import Mandate
    from app.requests.models import PaymentPlan

    # Never offer what the customer already has (an active mandate, a running plan).
    has_mandate = db.session.scalar(select(Mandate.id).where(
        Mandate.customer_id == customer.id, Mandate.status == "active").limit(1)) is not None
    if customer.payment_method != "direct_debit" and not has_mandate:
        found.append("direct_debit")
    overdue = db.session.scalar(select(func.coalesce(func.sum(Invoice.open_amount), 0)).where(
        Invoice.customer_id == customer.id, invoice_is_open(),
        Invoice.due_date < today))
    has_plan = db.session.scalar(select(PaymentPlan.id).where(
        PaymentPlan.customer_id == customer.id,
        PaymentPlan.status.in_(("active", "proposed"))).limit(1)) is not None
    if overdue and Decimal(overdue) > 0 and not has_plan:
        found.append("plan")
    return found


def propose_help(customer: Customer, today: date | None = None) -> bool:
    """Queue the month's proposal for a flagged customer; False when nothing was queued."""
    today = today or business_today()
    if (customer is None or customer.anonymised_at is not None or customer.legal_status != "none"
            or not customer.risk_flags):
        return False
    proposals = proposals_for(customer, today)
    if not proposals:
        return False
    from app.notifications.services import notify_risk_proposal

    return bool(notify_risk_proposal(customer, proposals, today))


# Portal endpoints a proposal may lead to, first one mounted wins (areas are added over time).
PORTAL_TARGETS = {
    "due_date": ("portal.preferences", "portal.profile"),
    "direct_debit": ("portal.mandate", "portal.direct_debit", "portal.preferences"),
    "plan": ("portal.plan_wizard", "portal.plan", "portal.payment_plan", "portal.pay_overdue"),
}


def portal_proposals(customer: Customer) -> list[dict]:
    """The proposal card on the portal dashboard: [{kind, text, button, endpoint}]."""
    if not customer.risk_flags or customer.legal_status != "none":
        return []
    texts = {
        # What the payment day really changes: see app/selfservice/preferences.py.
        "due_date": (_("Is your salary paid later in the month? Tell us the day you can "
                       "usually pay: reminders will wait until just after it."),
                     _("Choose my payment day")),
        "direct_debit": (_("Pay automatically by direct debit: no more reminders, no more "
                           "forgotten transfers."), _("Set up direct debit")),
        "plan": (_("Spread what is overdue over several months with a payment plan."),
                 _("Ask for a payment plan")),
    }
    cards = []
    for kind in proposals_for(customer):
        text, button = texts[kind]
        cards.append({"kind": kind, "text": text, "button": button, "url": _first_url(kind)})
    return cards


def _first_url(kind: str) -> str | None:
    from flask import current_app, url_for
    from werkzeug.routing import BuildError

    for endpoint in PORTAL_TARGETS[kind]:
        if endpoint in current_app.view_functions:
            try:
                return url_for(endpoint)
            except BuildError:  # a page that needs arguments: not a target
                continue
    return None


def flagged_customers(limit: int = 100, offset: int = 0) -> tuple[list[Customer], int]:
    """Staff list to call today, ranked: most signals first, then the largest overdue amount.

    Customers with a lawyer, a collection agency or in insolvency are not called (their file
    is handled elsewhere), nor erased ones. Each row carries ``overdue`` (the amount to talk
    about) next to its flags (the reasons)."""
    overdue = _overdue_now(business_today(), int(get_setting("risk.late_days"))).subquery()
    amount = func.coalesce(overdue.c.total, 0)
    query = (select(Customer, amount)
             .outerjoin(overdue, overdue.c.customer_id == Customer.id)
             .where(has_flags_clause(), Customer.anonymised_at.is_(None),
                    Customer.legal_status == "none"))
    # The thresholds keep this list short (a day's calls): ranked here, in Python.
    rows = []
    for customer, due in db.session.execute(query):
        customer.overdue = Decimal(due or 0)
        rows.append(customer)
    rows.sort(key=lambda c: (-len(c.risk_flags or []), -c.overdue, c.id))
    return rows[offset:offset + limit], len(rows)
