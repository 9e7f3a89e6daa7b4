"""Writing one batch of dunning decisions: the run row, actions, invoice levels, messages,
broken promises and plans. The caller commits once per batch (app/dunning/engine.py:run).
"""
from __future__ import annotations

import logging
from collections import Counter
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from app.core.models import utcnow
from app.customers.models import Customer
from app.dunning import calendar
from app.dunning.engine import LEFT_OUT, PRE_DUE, REMIND, Decision
from app.dunning.messages import queue_reminder
from app.dunning.models import DunningAction, DunningActionInvoice, DunningRun
from app.dunning.snapshot import Snapshot, invoice_details
from app.extensions import db
from app.invoices.models import Invoice
from app.notifications.rendering import TemplateBroken, TemplateMissing
from app.requests.models import Deferral, Installment, PaymentPlan

log = logging.getLogger(__name__)


def start_run(run_date: date, triggered_by: str | None) -> int:
    """The run row of that date: one per date, reused when the date is run again."""
    row = db.session.scalar(select(DunningRun).where(DunningRun.run_date == run_date,
                                                     DunningRun.dry_run.is_(False))
                            .order_by(DunningRun.id).limit(1))
    if row is None:
        row = DunningRun(run_date=run_date, dry_run=False, counts={})
        db.session.add(row)
    row.status, row.finished_at = "running", None
    row.triggered_by = triggered_by or row.triggered_by
    db.session.commit()
    return row.id


def finish_run(run_id: int, status: str, counts: Counter) -> dict[str, int]:
    row = db.session.get(DunningRun, run_id)
    totals = dict(counts)
    totals["actions_on_date"] = db.session.scalar(
        select(func.count()).select_from(DunningAction).where(
            DunningAction.run_date == row.run_date)) or 0
    row.status, row.finished_at, row.counts = status, utcnow(), totals
    db.session.commit()
    return totals


def apply_batch(run_id: int, snapshot: Snapshot, decisions: list[Decision]
                ) -> tuple[Counter, list[int]]:
    """Add everything the decisions of one batch of customers change; returns the counts and
    the ids of the actions to hand over to the collection agency (after the commit)."""
    run_date = snapshot.run_date
    counts: Counter[str] = Counter(d.outcome for d in decisions)
    _break_promises(decisions, run_date, snapshot.settings["dunning.plan_broken_after_days"])
    remind = [d for d in decisions if d.outcome == REMIND]
    if not remind:
        return counts, []
    customers = {c.id: c for c in db.session.scalars(
        select(Customer).where(Customer.id.in_([d.customer.id for d in remind]))
        .options(selectinload(Customer.contacts), selectinload(Customer.addresses)))}
    details = invoice_details([i.invoice.id for d in remind for i in d.listed])
    created: list[tuple[DunningAction, list]] = []
    moved: list[dict[str, Any]] = []
    fees_only: list[dict[str, Any]] = []
    for decision in remind:
        customer = customers[decision.customer.id]
        try:
            messages = queue_reminder(customer, decision, run_date, details, snapshot.settings)
        except (TemplateMissing, TemplateBroken) as exc:
            # Not reminded today (nothing recorded): the next run tries again once fixed.
            log.error("dunning %s: customer %s not reminded: %s", run_date, customer.number, exc)
            counts[REMIND] -= 1
            counts["template_errors"] += 1
            continue
        if not messages:
            counts[REMIND] -= 1
            counts["no_address"] += 1
            continue
        channels = sorted({m.channel for m in messages})
        effective = calendar.effective_on(run_date, channels)
        action = _action(run_id, run_date, decision, channels, effective)
        db.session.add(action)
        created.append((action, messages))
        counts["messages"] += len(messages)
        _invoice_changes(decision, run_date, effective, moved, fees_only)
    db.session.flush()
    for action, messages in created:
        action.message_ids = [m.id for m in messages]
        action.message_id = action.message_ids[0]
    if moved:
        db.session.execute(update(Invoice), moved)
    if fees_only:
        db.session.execute(update(Invoice), fees_only)
    handovers = [a.id for a, _ in created if a.handover_status == "pending"]
    return counts, handovers


def _action(run_id: int, run_date: date, decision: Decision, channels: list[str],
            effective: date) -> DunningAction:
    listed = decision.listed
    action = DunningAction(
        run_id=run_id, run_date=run_date, customer_id=decision.customer.id,
        level_id=decision.level.id, invoice_ids=[i.invoice.id for i in listed],
        amount_due=decision.amount_due, fee_amount=decision.fee_total,
        explanation=explanation(decision), channels=",".join(channels), effective_on=effective,
        handover_status="pending" if decision.level.tone == "collection" else None)
    action.lines = [DunningActionInvoice(
        invoice_id=i.invoice.id, run_date=run_date, level_sequence=i.level_after,
        advanced=i.advances_to is not None, days_late=max(i.days_late, 0), amount=i.amount,
        fees=i.fees.total) for i in listed]
    return action


def explanation(decision: Decision) -> dict[str, Any]:
    """The decision as stored on the action: policy, level, reasons, each invoice and why."""
    def invoice(item) -> dict[str, Any]:
        return {"id": item.invoice.id, "number": item.invoice.number, "status": item.status,
                "amount": str(item.amount), "days_late": item.days_late,
                "level_after": item.level_after, "advanced": item.advances_to is not None,
                "lump_sum": str(item.fees.lump_sum), "interest": str(item.fees.interest),
                "reasons": [r.as_json() for r in item.reasons]}

    return {
        "outcome": decision.outcome,
        "policy": decision.policy.name if decision.policy else None,
        "level": ({"sequence": decision.level.sequence, "name": decision.level.name,
                   "tone": decision.level.tone} if decision.level else None),
        "reasons": [r.as_json() for r in decision.reasons],
        "invoices": [invoice(i) for i in decision.invoices if i.status != LEFT_OUT],
        "excluded": [invoice(i) for i in decision.invoices if i.status == LEFT_OUT],
        "fixed_fee": str(decision.fixed_fee),
        "next_fees": str(decision.next_fees),
    }


def _invoice_changes(decision: Decision, run_date: date, effective: date,
                     moved: list[dict[str, Any]], fees_only: list[dict[str, Any]]) -> None:
    policy = decision.policy
    for item in decision.listed:
        inv = item.invoice
        level = policy.by_sequence.get(item.level_after) if policy else None
        charges = level is not None and level.fee_rule not in ("none", "fixed")
        fees_from = inv.fees_from or (run_date if charges else None)
        if item.advances_to is not None:
            moved.append({"id": inv.id, "dunning_level": item.level_after,
                          "last_reminded_on": run_date, "last_reminder_effective_on": effective,
                          "dunning_fees": item.fees.total, "dunning_fees_from": fees_from})
        elif item.status != PRE_DUE:
            fees_only.append({"id": inv.id, "dunning_fees": item.fees.total,
                              "dunning_fees_from": fees_from})


def _break_promises(decisions: list[Decision], run_date: date, late_days: int) -> None:
    """Deferrals whose date passed unpaid and plans with a late instalment are broken."""
    deferrals = [i for d in decisions for i in d.broken_deferrals or ()]
    plans = [p for d in decisions for p in d.broken_plans or ()]
    newly_broken_deferrals: list[int] = []
    newly_broken_plans: list[int] = []
    if deferrals:
        newly_broken_deferrals = list(db.session.scalars(
            update(Deferral).where(Deferral.id.in_(deferrals), Deferral.status == "active")
            .values(status="broken").returning(Deferral.id)))
    if plans:
        newly_broken_plans = list(db.session.scalars(
            update(PaymentPlan).where(PaymentPlan.id.in_(plans), PaymentPlan.status == "active")
            .values(status="broken", broken_on=run_date).returning(PaymentPlan.id)))
        db.session.execute(update(Installment).where(
            Installment.plan_id.in_(plans), Installment.status == "due",
            Installment.paid_amount < Installment.amount,
            Installment.due_date < run_date - timedelta(days=late_days)).values(status="late"))
    _tell_customers(newly_broken_deferrals, newly_broken_plans)


def _tell_customers(deferral_ids: list[int], plan_ids: list[int]) -> None:
    """The customer hears that a promise or plan is broken, in the same transaction."""
    from app.notifications.services import notify_plan_broken, notify_promise_broken

    for model, ids, notify in ((Deferral, deferral_ids, notify_promise_broken),
                               (PaymentPlan, plan_ids, notify_plan_broken)):
        for record in db.session.scalars(select(model).where(model.id.in_(ids))) if ids else ():
            try:
                notify(record)
            except TemplateMissing:  # only on a database set up without `init-db`
                log.warning("no template to tell customer %s about %s %s", record.customer_id,
                            model.__tablename__, record.id)
