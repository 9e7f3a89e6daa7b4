"""Payment plans: the customer picks invoices, a number of instalments and a day of the month.

The plan table (app/requests/self_service.py) decides: a single payment only below a minimum,
then tiers of "up to this total, at most N instalments of at least X", then a staff decision.
Never approved at once while the customer is in legal proceedings (or with the agency, or
insolvent), while another plan is active, or within N months of a broken plan.

An approved plan is active at once: each instalment has its own structured communication (from
the counter invoices use, so they never collide), reminders wait on the planned invoices while
the plan is kept (app/dunning/engine.py), a payment with an instalment's communication pays it
(app/payments/consequences.py), and an instalment late by ``dunning.plan_broken_after_days``
breaks the plan: reminders resume and the customer is told (dunning run, or ``check_promises``).

The caller commits.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update

from app.core import sequences
from app.core.i18n import day, money
from app.core.locking import lock
from app.core.settings import get_setting
from app.core.time import business_today
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import Invoice
from app.invoices.references import make_ogm
from app.requests import self_service as ss
from app.requests.models import PLAN_STATUSES, CustomerRequest, Installment, PaymentPlan
from app.requests.reasons import Reason
from app.requests.services import auto_approve, open_request, register_decision_handler

log = logging.getLogger(__name__)
CENT = Decimal("0.01")
MAX_DAY_OF_MONTH = 28  # every month has it


@dataclass
class PlannedInstallment:
    sequence: int
    due_date: date
    amount: Decimal


@dataclass
class PlanPreview:
    invoices: list[Invoice]
    total: Decimal
    installment_count: int
    day_of_month: int
    schedule: list[PlannedInstallment]
    refused: list[ss.RuleText] = field(default_factory=list)

    @property
    def approved_at_once(self) -> bool:
        return not self.refused

    @property
    def refused_rules(self) -> list[str]:
        return [str(t()) for t in self.refused]


def add_months(start: date, months: int) -> date:
    month = start.month - 1 + months
    return start.replace(year=start.year + month // 12, month=month % 12 + 1)


def schedule(total: Decimal, count: int, day_of_month: int, today: date,
             min_days: int) -> list[PlannedInstallment]:
    """Monthly instalments on ``day_of_month``, the first at least ``min_days`` from today;
    equal amounts, the cents left over on the last one."""
    earliest = today + timedelta(days=max(min_days, 0))
    first = earliest.replace(day=day_of_month)
    if first < earliest:
        first = add_months(first, 1)
    share = (total / count).quantize(CENT, rounding=ROUND_DOWN)
    return [PlannedInstallment(n, add_months(first, n - 1),
                               share if n < count else total - share * (count - 1))
            for n in range(1, count + 1)]


def _clean_numbers(installment_count: Any, day_of_month: Any) -> tuple[int, int]:
    maximum = int(get_setting(ss.PLAN_MAX_INSTALLMENTS))
    errors: dict[str, str] = {}
    try:
        count = int(str(installment_count).strip())
        if not 1 <= count <= maximum:
            raise ValueError
    except (TypeError, ValueError):
        errors["installment_count"] = _("Choose between %(low)s and %(high)s instalments.",
                                        low=1, high=maximum)
        count = 0
    try:
        dom = int(str(day_of_month).strip())
        if not 1 <= dom <= MAX_DAY_OF_MONTH:
            raise ValueError
    except (TypeError, ValueError):
        errors["day_of_month"] = _("Choose a day between %(low)s and %(high)s.", low=1,
                                   high=MAX_DAY_OF_MONTH)
        dom = 0
    if errors:
        raise ValidationError(errors)
    return count, dom


def preview_plan(customer: Customer, invoices: Iterable[Invoice | int], installment_count: Any,
                 day_of_month: Any, *, today: date | None = None,
                 override: bool = False, deciding: int | None = None) -> PlanPreview:
    """The schedule a plan would have, and the rules that would send it to staff.

    ``installment_count`` None: the number the rules propose for this total
    (``proposed_count``), so a customer can confirm a plan without choosing anything.
    ValidationError when no plan is possible at all (nothing changes, nothing is stored)."""
    today = today or business_today()
    proposing = installment_count is None
    count, dom = _clean_numbers(1 if proposing else installment_count, day_of_month)
    found = ss.customer_open_invoices(customer, invoices)
    ids = [i.id for i in found]
    if ss.in_active_plan(ids):
        raise ValidationError({"invoices": _(
            "One of the chosen invoices is already in a payment plan.")})
    deferred = ss.in_active_deferral(ids)
    if deferred:
        # A plan is not stacked on a running deferral: the two would disagree on the due date.
        first = next(iter(deferred.values()))
        numbers = ", ".join(sorted(i.number for i in found if i.id in deferred))
        if deciding:
            raise ValidationError({"invoices": _(
                "Invoice %(numbers)s has a deferral running until %(date)s: a payment plan "
                "cannot be approved on top of it. Reject this request and explain, or cancel the "
                "deferral (Requests > Deferrals) first and then approve.",
                numbers=numbers, date=day(first.new_due_date))})
        raise ValidationError({"invoices": _(
            "Invoice %(numbers)s is deferred until %(date)s: please pay it by then. A payment "
            "plan is possible for it once the deferral has ended.",
            numbers=numbers, date=day(first.new_due_date))})
    waiting = db.session.scalar(select(CustomerRequest.id).join(CustomerRequest.invoices).where(
        CustomerRequest.customer_id == customer.id, CustomerRequest.kind == "payment_plan",
        CustomerRequest.status.in_(("received", "in_review")), Invoice.id.in_(ids),
        CustomerRequest.id != (deciding or 0)).limit(1))
    if waiting is not None:
        raise ValidationError({"invoices": _(
            "A payment plan request for one of these invoices is already waiting for our "
            "answer.")})
    disputed = ss.open_disputed(ids)
    total = sum((ss.payable(i, disputed) for i in found), Decimal("0.00"))
    single_below, tiers = ss.plan_tiers()
    if proposing:
        count = proposed_count(total, tiers)
    if total < CENT * count:
        raise ValidationError({"invoices": _(
            "The chosen invoices are disputed in full: nothing to plan while the dispute is "
            "open.")})
    if total < single_below and not override:
        raise ValidationError({"invoices": _(
            "Below %(amount)s we ask for a single payment; a payment plan is not possible. You "
            "can ask for a deferral instead.", amount=money(single_below))})
    min_days = int(get_setting(ss.PLAN_FIRST_INSTALLMENT_MIN_DAYS))
    preview = PlanPreview(found, total, count, dom, schedule(total, count, dom, today, min_days))
    if not override:
        preview.refused = refused_rules(customer, total, count, tiers, today)
    return preview


def proposed_count(total: Decimal, tiers: list[ss.PlanTier]) -> int:
    """The number of instalments proposed for ``total`` before the customer chooses: the most
    the plan table approves at once (its tier's maximum, each instalment at least the tier's
    minimum); above the last tier, where a person decides anyway, three. Never more than
    ``self_service.plan.max_installments``."""
    maximum = max(int(get_setting(ss.PLAN_MAX_INSTALLMENTS)), 1)
    tier = next((t for t in tiers if total <= t.up_to), None)
    if tier is None:
        return min(3, maximum)
    fits = int(total // tier.min_installment) if tier.min_installment > 0 else maximum
    return max(1, min(tier.max_installments, fits, maximum))


def refused_rules(customer: Customer, total: Decimal, count: int, tiers: list[ss.PlanTier],
                  today: date) -> list[ss.RuleText]:
    found: list[ss.RuleText] = []
    legal = ss.legal_status_rule(customer)
    if legal is not None:
        found.append(legal)
    active = db.session.scalar(select(PaymentPlan.id).where(
        PaymentPlan.customer_id == customer.id, PaymentPlan.status == "active").limit(1))
    if active is not None:
        found.append(Reason("plan_running"))
    months = int(get_setting(ss.PLAN_MONTHS_AFTER_BROKEN))
    since = add_months(today.replace(day=min(today.day, 28)), -months)
    broken = db.session.scalar(select(PaymentPlan.broken_on).where(
        PaymentPlan.customer_id == customer.id, PaymentPlan.status == "broken",
        PaymentPlan.broken_on >= since).limit(1))
    if broken is not None:
        found.append(Reason("plan_broken_recently", months=months))
    tier = next((t for t in tiers if total <= t.up_to), None)
    if tier is None:
        top = tiers[-1].up_to if tiers else Decimal(0)
        found.append(Reason("plan_above_tiers", limit=top))
        return found
    if count > tier.max_installments:
        found.append(Reason("plan_too_many_installments", amount=total,
                            max_installments=tier.max_installments))
    smallest = (total / count).quantize(CENT, rounding=ROUND_DOWN)
    if count > 1 and smallest < tier.min_installment:
        found.append(Reason("plan_installment_too_small", minimum=tier.min_installment))
    return found


def request_plan(customer: Customer, invoices: Iterable[Invoice | int], installment_count: Any,
                 day_of_month: Any, *, channel: str = "portal", user: Any = None,
                 override_reason: str | None = None, today: date | None = None) -> ss.Outcome:
    """Ask for a plan. Within the rules it is active at once (``outcome.plan``); otherwise a
    request for staff (``outcome.refused_rules``). ValidationError: nothing changed.

    The customer is locked first (app/core/locking.py): the same form sent twice at once makes
    one plan, the second is refused as if it came later ("already in a payment plan")."""
    override = (override_reason or "").strip() if user is not None else ""
    if user is not None and override_reason is not None and not override:
        raise ValidationError({"override_reason": _("Say why the rules are bypassed.")})
    lock(customer)
    preview = preview_plan(customer, invoices, installment_count, day_of_month, today=today,
                           override=bool(override))
    payload = {"invoice_ids": [i.id for i in preview.invoices],
               "installment_count": preview.installment_count,
               "day_of_month": preview.day_of_month, "total": str(preview.total)}
    subject = ", ".join(i.number for i in preview.invoices)[:200]
    if preview.refused:
        payload["refused_rules"] = ss.in_language(customer.language, preview.refused)
        req = open_request(customer, "payment_plan", channel=channel, subject=subject,
                           payload=payload, invoices=preview.invoices,
                           referral_reason="\n".join(payload["refused_rules"]),
                           referral_codes=ss.reason_codes(preview.refused))
        return ss.Outcome(False, req, refused_rules=preview.refused_rules)
    req = auto_approve(customer, "payment_plan", channel=channel, subject=subject,
                       payload=payload, invoices=preview.invoices)
    if override:
        ss.record_override(req, user, override)
    plan = _create(req, customer, preview, approved_by=user)
    return ss.Outcome(True, req, plan=plan)


def _create(req: CustomerRequest, customer: Customer, preview: PlanPreview,
            approved_by: Any = None, notify: bool = True) -> PaymentPlan:
    from app.notifications.services import notify_plan_approved

    plan = PaymentPlan(customer=customer, customer_id=customer.id, request_id=req.id,
                       status="active", total_amount=preview.total,
                       installment_count=preview.installment_count,
                       day_of_month=preview.day_of_month,
                       start_date=preview.schedule[0].due_date,
                       approved_by_id=getattr(approved_by, "id", None),
                       invoices=list(preview.invoices))
    numbers = sequences.allocate(db.session, sequences.PAYMENT_REFERENCE, len(preview.schedule))
    for planned, number in zip(preview.schedule, numbers):
        plan.installments.append(Installment(
            sequence=planned.sequence, due_date=planned.due_date, amount=planned.amount,
            paid_amount=Decimal("0.00"), structured_reference=make_ogm(number), status="due"))
    db.session.add(plan)
    db.session.flush()
    if not notify:
        return plan
    try:
        notify_plan_approved(plan)
    except LookupError as exc:  # a missing template never undoes the plan
        log.warning("plan %s: no approval message: %s", plan.id, exc)
    return plan


def on_decision(req: CustomerRequest, approved: bool, user: Any) -> bool:
    """Staff approved a plan the rules sent them: it is made now, from today's amounts.

    Without a decision note the plan's own message (the schedule) is the one answer; with a
    note the request's answer carries it (True: the customer has been told here)."""
    if not approved:
        return False
    lock(req.customer)  # after the request (decide_request): no plan made meanwhile is missed
    payload = req.payload or {}
    ids = payload.get("invoice_ids") or [i.id for i in req.invoices]
    preview = preview_plan(req.customer, ids, payload.get("installment_count"),
                           payload.get("day_of_month"), override=True, deciding=req.id)
    tell = not req.decision_note
    _create(req, req.customer, preview, approved_by=user, notify=tell)
    return tell


register_decision_handler("payment_plan", on_decision)


def customer_plan(customer_id: int, plan_id: int) -> PaymentPlan | None:
    """The plan if it is this customer's (None: the route answers 404)."""
    return db.session.scalar(select(PaymentPlan).where(PaymentPlan.id == plan_id,
                                                       PaymentPlan.customer_id == customer_id))


def break_late_plans(today: date | None = None) -> int:
    """Active plans with an instalment late by ``dunning.plan_broken_after_days`` are broken,
    the late instalments marked late, the customer told once. Reminders then resume on the
    planned invoices (the engine only holds back invoices of active plans). Idempotent; the
    caller commits. The dunning run does the same for the customers it looks at."""
    from app.notifications.services import notify_plan_broken

    today = today or business_today()
    late_days = int(get_setting("dunning.plan_broken_after_days"))
    limit = today - timedelta(days=late_days)
    late = select(Installment.plan_id).join(PaymentPlan, PaymentPlan.id == Installment.plan_id) \
        .where(PaymentPlan.status == "active", Installment.status != "paid",
               Installment.paid_amount < Installment.amount, Installment.due_date < limit)
    ids = sorted(set(db.session.scalars(late)))
    if not ids:
        return 0
    broken = list(db.session.scalars(update(PaymentPlan).where(
        PaymentPlan.id.in_(ids), PaymentPlan.status == "active")
        .values(status="broken", broken_on=today).returning(PaymentPlan.id)))
    db.session.execute(update(Installment).where(
        Installment.plan_id.in_(broken), Installment.status == "due",
        Installment.paid_amount < Installment.amount, Installment.due_date < limit)
        .values(status="late"))
    for plan in db.session.scalars(select(PaymentPlan).where(PaymentPlan.id.in_(broken))):
        db.session.refresh(plan)
        try:
            notify_plan_broken(plan)
        except LookupError as exc:
            log.warning("plan %s: no broken-plan message: %s", plan.id, exc)
    return len(broken)


def check_promises(today: date | None = None) -> dict[str, int]:
    """Daily job: broken deferrals and plans, whoever the dunning run looks at."""
    from app.requests.deferrals import break_overdue_deferrals

    counts = {"deferrals_broken": break_overdue_deferrals(today),
              "plans_broken": break_late_plans(today)}
    db.session.commit()
    return counts


def set_plan_status(plan: PaymentPlan, status: str) -> None:
    """Staff follow a plan up by hand (Requests -> Payment plans): a plan marked broken gets the
    day it broke, as the daily check gives it (break_late_plans); put back, it loses it.
    ValidationError for an unknown status. The caller commits."""
    if status not in PLAN_STATUSES:
        raise ValidationError({"status": _("Choose a status.")})
    if status == plan.status:
        return
    plan.status = status
    plan.broken_on = (plan.broken_on or business_today()) if status == "broken" else None
