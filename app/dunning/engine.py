"""The dunning engine: which customer gets which reminder today, and why.

``evaluate(run_date)`` reads the database set-wise (app/dunning/snapshot.py) and decides per
customer in Python: it changes nothing, and is the dry run of the CLI and the admin screen.
``app.dunning.runs.run(run_date)`` applies the same decisions (``decide_all``) batch by batch
through app/dunning/apply.py and messages.py, which build on this module's Decision: the engine
itself imports neither, so deciding never depends on how a decision is carried out.

Rules, per customer:
* nothing for customers in legal proceedings, insolvent or with the collection agency, while
  reminders are paused or held (app/dunning/holds.py), or while a recent incoming payment is not matched yet;
* per invoice: not when blocked by hand, disputed (the disputed part), deferred until the
  promised date, or in a payment plan being kept; a promise or a plan that was not kept is
  marked broken and the invoice is reminded again;
* each overdue invoice moves at most one level per run, once its days are reached; the customer
  gets one message at the highest level reached, listing every overdue invoice;
* timing: at most one reminder per customer in N days, and none just before the customer's
  preferred payment day (it goes out just after).
"""
from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from app.dunning import calendar, rules  # noqa: F401  (rules: the settings must be declared)
from app.dunning.fees import (
    NO_FEES,
    FeeItem,
    FeeParameters,
    InvoiceFees,
    announced_lump_sum,
    fees_for,
)
from app.dunning.reasons import Reason, reason
from app.dunning.snapshot import (
    CustomerRow,
    InvoiceRow,
    Level,
    Policy,
    Snapshot,
    load,
)

log = logging.getLogger(__name__)
ZERO = Decimal("0.00")

# Outcomes of a customer's evaluation.
REMIND, POSTPONED, WAITING, EXCLUDED, NOT_DUE, DONE = (
    "remind", "postponed", "waiting", "excluded", "not_due", "done")
OUTCOMES = (REMIND, POSTPONED, WAITING, EXCLUDED, NOT_DUE, DONE)
# Invoice statuses within a decision.
LISTED, PRE_DUE, NOT_YET_DUE, LEFT_OUT = "listed", "pre_due", "not_due", "excluded"


@dataclass(slots=True)
class InvoiceDecision:
    invoice: InvoiceRow
    status: str
    amount: Decimal                  # what is reminded: open minus disputed
    days_late: int
    reasons: list[Reason] = field(default_factory=list)
    advances_to: Level | None = None  # the level reached today (None: stays where it is)
    ready_on: date | None = None      # when the next level becomes possible
    fees: InvoiceFees = NO_FEES

    @property
    def level_after(self) -> int:
        if self.advances_to is not None and not self.advances_to.is_pre_due:
            return self.advances_to.sequence
        return self.invoice.level


@dataclass(slots=True)
class Decision:
    customer: CustomerRow
    outcome: str
    policy: Policy | None = None
    level: Level | None = None
    invoices: list[InvoiceDecision] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    until: date | None = None            # postponed / waiting until
    fixed_fee: Decimal = ZERO            # a "fixed" fee rule: per reminder, not per invoice
    next_rate: Decimal | None = None     # interest announced for the next step if still unpaid
    next_level: Level | None = None
    fee_parameters: FeeParameters | None = None
    broken_deferrals: list[int] | None = None  # promises not kept (marked broken when applied)
    broken_plans: list[int] | None = None
    chosen: list[InvoiceDecision] | None = None  # the listed invoices, once the level is known

    @property
    def listed(self) -> list[InvoiceDecision]:
        """The invoices the message lists (pre-due notice: those due soon)."""
        if self.chosen is not None:
            return self.chosen
        wanted = PRE_DUE if self.level is not None and self.level.is_pre_due else LISTED
        return [i for i in self.invoices if i.status == wanted]

    @property
    def next_fees(self) -> Decimal:
        """The lump sum the next step will claim if still unpaid (told in the reminder).

        Computed when a message or a screen asks for it, not for every customer of a run.
        """
        step = self.next_level
        if step is None or step.fee_rule == "none" or self.fee_parameters is None:
            return ZERO
        listed = self.listed
        return announced_lump_sum(step.fee_rule, sum((i.amount for i in listed), ZERO),
                                  len(listed), self.fee_parameters)

    @property
    def overdue(self) -> list[InvoiceDecision]:
        return [i for i in self.invoices if i.status == LISTED]

    @property
    def amount_due(self) -> Decimal:
        return sum((i.amount for i in self.listed), ZERO)

    @property
    def fee_total(self) -> Decimal:
        return sum((i.fees.total for i in self.listed), ZERO) + self.fixed_fee


@dataclass
class Evaluation:
    run_date: date
    decisions: list[Decision]

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(d.outcome for d in self.decisions)
        return {outcome: counted.get(outcome, 0) for outcome in OUTCOMES}


# --- Deciding ------------------------------------------------------------------------------------

def decide(customer: CustomerRow, snapshot: Snapshot) -> Decision:
    """One customer's decision, with every reason that applied."""
    run_date = snapshot.run_date
    if customer.id in snapshot.done_today:
        return Decision(customer, DONE, reasons=[reason("already_done", on=run_date)])
    decision = Decision(customer, EXCLUDED)
    blockers = (_customer_blockers(customer, snapshot)
                if (customer.legal_status != "none" or customer.paused_until is not None
                    or customer.id in snapshot.unmatched
                    or customer.id in snapshot.held_customers) else [])
    policy, why = snapshot.policy_for(customer)
    if policy is None:
        segment = "business" if customer.kind == "company" else "consumer"
        blockers.append(reason("no_policy", segment=segment, country=customer.country))
    elif not policy.active:
        blockers.append(reason("policy_inactive", policy=policy.name))
        policy = None
    else:
        decision.policy = policy
        decision.reasons.append(snapshot.shared_reason(("policy", policy.id, why), "policy",
                                                       policy=policy.name, why=why))

    invoices = snapshot.invoices.get(customer.id, ())
    decision.invoices = [_invoice_decision(inv, policy, snapshot, decision) for inv in invoices]
    overdue, pre_due = [], []
    for item in decision.invoices:
        if item.status == LISTED:
            overdue.append(item)
        elif item.status == PRE_DUE:
            pre_due.append(item)
    total = sum((i.amount for i in overdue), ZERO) or sum((i.amount for i in pre_due), ZERO)
    minimum = snapshot.settings["dunning.minimum_amount"]
    if (overdue or pre_due) and total < minimum:
        blockers.append(reason("below_minimum", amount=total, minimum=minimum))
    if blockers:
        decision.reasons.extend(blockers)
        return decision
    if not overdue and not pre_due:
        decision.outcome = NOT_DUE if not any(i.status == LEFT_OUT for i in decision.invoices) \
            else EXCLUDED
        if decision.outcome == NOT_DUE:
            decision.reasons.append(reason("nothing_overdue"))
        return decision

    _hold_levels_under_minimum(overdue, total)
    advancing = [i for i in overdue if i.advances_to is not None]
    if advancing:
        highest = advancing[0].advances_to
        for item in advancing:
            if item.advances_to.sequence > highest.sequence:
                highest = item.advances_to
        decision.level = highest
    elif pre_due and not overdue:
        decision.level = pre_due[0].advances_to
    else:
        decision.outcome = WAITING
        ready = [i.ready_on for i in overdue if i.ready_on is not None]
        if ready:
            decision.until = min(ready)
            decision.reasons.append(reason("nothing_new", until=decision.until))
        else:
            decision.reasons.append(reason("nothing_new_last"))
        return decision

    decision.chosen = pre_due if decision.level.is_pre_due else overdue
    decision.reasons.append(snapshot.shared_reason(("level", decision.level.id), "level_chosen",
                                                   sequence=decision.level.sequence,
                                                   level=decision.level.name))
    _compute_fees(decision, snapshot)
    postponed = (_timing(customer, snapshot)
                 if customer.preferred_payment_day or customer.id in snapshot.last_message
                 else None)
    if postponed:
        decision.outcome = POSTPONED
        decision.until = max(r[0] for r in postponed)
        decision.reasons.extend(r[1] for r in postponed)
        return decision
    decision.outcome = REMIND
    if decision.level.tone == "collection":
        decision.reasons.append(reason("handover"))
    return decision


def _customer_blockers(customer: CustomerRow, snapshot: Snapshot) -> list[Reason]:
    found = []
    if customer.legal_status and customer.legal_status != "none":
        found.append(reason("legal_status", status=customer.legal_status))
    if customer.paused_until is not None and customer.paused_until >= snapshot.run_date:
        found.append(reason("paused", until=customer.paused_until,
                            reason=customer.pause_reason or ""))
    held = snapshot.held_customers.get(customer.id)
    if held is not None:
        found.append(reason("held", until=held.until, reason=held.reason))
    unmatched = snapshot.unmatched.get(customer.id)
    if unmatched is not None:
        found.append(reason("unmatched_payment", amount=unmatched[1], on=unmatched[0],
                            days=snapshot.settings["dunning.unmatched_payment_days"]))
    return found


def _invoice_decision(inv: InvoiceRow, policy: Policy | None, snapshot: Snapshot,
                      decision: Decision) -> InvoiceDecision:
    run_date = snapshot.run_date
    if not (inv.blocked or inv.disputed or inv.id in snapshot.any_exclusion):
        # The common case: nothing holds this invoice back.
        result = InvoiceDecision(inv, LISTED, inv.open_amount, (run_date - inv.due_date).days)
        return _due_or_not(result, inv, policy, run_date, decision)
    disputed = snapshot.disputed.get(inv.id, ZERO)
    if inv.disputed:
        disputed = max(disputed, inv.disputed_amount if inv.disputed_amount > 0
                       else inv.open_amount)
    amount = inv.open_amount - min(disputed, inv.open_amount)
    result = InvoiceDecision(inv, LISTED, amount, (run_date - inv.due_date).days)
    left_out = False
    if inv.blocked:
        result.reasons.append(reason("blocked", reason=inv.block_reason or ""))
        left_out = True
    held = snapshot.held_invoices.get(inv.id)
    if held is not None:
        result.reasons.append(reason("held_invoice", until=held.until, reason=held.reason))
        left_out = True
    if disputed > 0:
        if amount <= 0:
            result.reasons.append(reason("disputed", amount=inv.open_amount))
            left_out = True
        else:
            result.reasons.append(reason("partly_disputed", amount=disputed, rest=amount))
    deferral = snapshot.deferrals.get(inv.id)
    if deferral is not None:
        deferral_id, promised = deferral
        if promised >= run_date:
            result.reasons.append(reason("deferral", until=promised))
            left_out = True
        else:
            result.reasons.append(reason("deferral_broken", until=promised))
            decision.broken_deferrals = [*(decision.broken_deferrals or ()), deferral_id]
    plan_id = snapshot.plans.get(inv.id)
    if plan_id is not None:
        late = snapshot.broken_plans.get(plan_id)
        if late is None:
            result.reasons.append(reason("plan", plan=plan_id))
            left_out = True
        else:
            result.reasons.append(reason("plan_broken", plan=plan_id, on=late))
            if plan_id not in (decision.broken_plans or ()):
                decision.broken_plans = [*(decision.broken_plans or ()), plan_id]
    if left_out:
        result.status = LEFT_OUT
        return result
    return _due_or_not(result, inv, policy, run_date, decision)


def _due_or_not(result: InvoiceDecision, inv: InvoiceRow, policy: Policy | None,
                run_date: date, decision: Decision) -> InvoiceDecision:
    if result.days_late <= 0:
        pre = policy.pre_due if policy is not None else None
        # Direct debit customers pay by themselves on the due date: no pre-due notice.
        if (pre is not None and decision.customer.payment_method != "direct_debit"
                and inv.level == 0 and inv.last_reminded_on is None
                and run_date >= inv.due_date + timedelta(days=pre.days_after_due)):
            result.status = PRE_DUE
            result.advances_to = pre
            result.reasons.append(reason("pre_due", due=inv.due_date, days=-result.days_late))
        else:
            result.status = NOT_YET_DUE
            result.reasons.append(reason("not_yet_due", due=inv.due_date))
        return result
    if policy is not None:
        _next_level(result, policy, run_date)
    return result


def _next_level(result: InvoiceDecision, policy: Policy, run_date: date) -> None:
    inv = result.invoice
    step = policy.next_after(inv.level)
    if step is None:
        current = policy.by_sequence.get(inv.level)
        result.reasons.append(reason("last_level", current=current.name if current else inv.level))
        return
    # The previous reminder counts from the day it is deemed received.
    previous = inv.effective_on or (inv.last_reminded_on + timedelta(days=1)
                                    if inv.last_reminded_on else None)
    basis = previous if step.days_basis == "previous" and previous else inv.due_date
    ready = basis + step.after_basis
    if previous is not None:
        ready = max(ready, previous + step.wait)
    if run_date >= ready:
        result.advances_to = step
        result.reasons.append(reason("advances", days=result.days_late, sequence=step.sequence,
                                     level=step.name, needed=step.days_after_due,
                                     basis="previous" if basis is previous else "due",
                                     wait=step.min_days_since_previous))
    else:
        result.ready_on = ready
        result.reasons.append(reason("waiting", current=inv.level, sequence=step.sequence,
                                     level=step.name, until=ready))


def _hold_levels_under_minimum(overdue: list[InvoiceDecision], total: Decimal) -> None:
    """A level with a minimum amount is not reached while the customer owes less than it."""
    for item in overdue:
        step = item.advances_to
        if step is not None and step.min_amount and total < step.min_amount:
            item.reasons.append(reason("level_minimum", sequence=step.sequence, level=step.name,
                                       minimum=step.min_amount, amount=total,
                                       current=item.invoice.level))
            item.advances_to = None


def _compute_fees(decision: Decision, snapshot: Snapshot) -> None:
    """Fees per invoice at the invoice's own level after today (never above what it reached)."""
    run_date, policy, params = snapshot.run_date, decision.policy, snapshot.fee_parameters
    by_rule: dict[str, list[tuple[InvoiceDecision, FeeItem]]] = {}
    listed = decision.listed
    charging = policy.charging
    for item in listed:
        rule = charging.get(item.level_after)
        if rule is None:
            continue
        inv = item.invoice
        by_rule.setdefault(rule, []).append(
            (item, FeeItem(inv.id, item.amount, inv.due_date, inv.fees_from or run_date)))
    for rule, pairs in by_rule.items():
        computed = fees_for(rule, (fee_item for _, fee_item in pairs), run_date, params)
        for item, fee_item in pairs:
            item.fees = computed[fee_item.key]
    if decision.level.fee_rule == "fixed":
        decision.fixed_fee = decision.level.fee_amount
    following = policy.next_after(decision.level.sequence) if not decision.level.is_pre_due \
        else (policy.steps[0] if policy.steps else None)
    decision.next_level = following
    decision.fee_parameters = params
    if following is not None and following.fee_rule != "none":
        decision.next_rate = snapshot.rate_today(following.fee_rule)


def _timing(customer: CustomerRow, snapshot: Snapshot) -> list[tuple[date, Reason]]:
    """Reasons to send later, each with the date it allows sending."""
    run_date, settings = snapshot.run_date, snapshot.settings
    found = []
    last = snapshot.last_message.get(customer.id)
    gap = settings["dunning.min_days_between_messages"]
    if last is not None and (run_date - last).days < gap:
        until = last + timedelta(days=gap)
        found.append((until, reason("recent_message", on=last, days=gap, until=until)))
    payday_wait = calendar.salary_day_wait(run_date, customer.preferred_payment_day,
                                           settings["dunning.salary_day_window"],
                                           settings["dunning.salary_day_delay"])
    if payday_wait is not None:
        found.append((payday_wait, reason("salary_day", payday=customer.preferred_payment_day,
                                          until=payday_wait)))
    return found


def evaluate(run_date: date, *, customer_ids: Sequence[int] | None = None) -> Evaluation:
    """Every customer's decision for ``run_date``; reads only, changes nothing (the dry run)."""
    with gc_paused():
        snapshot = load(run_date, customer_ids)
        return Evaluation(run_date, decide_all(snapshot))


def decide_all(snapshot: Snapshot) -> list[Decision]:
    customers = snapshot.customers
    with gc_paused():
        return [decide(customers[customer_id], snapshot) for customer_id in sorted(customers)]


@contextmanager
def gc_paused():
    """No cyclic garbage collection while a run builds its (acyclic) rows and decisions.

    A full dry run allocates a few million short-lived objects; the collector would scan them
    again and again and double the run's time for nothing. Reference counting still frees them.
    At the end they are frozen (``gc.freeze``: left out of every later collection, still freed
    by reference counting) before the collector comes back on: re-enabled with them young, its
    next collection would scan all of them at once (0.5-1 s of a dry-run page at 1M invoices).
    The next run unfreezes what survived, so that long-lived garbage is collected as before.
    """
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.unfreeze()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()


def invoice_ids(decisions: Iterable[Decision]) -> set[int]:
    """The overdue, remindable invoices of customers not excluded (what the bench compares)."""
    return {i.invoice.id for d in decisions if d.outcome in (REMIND, POSTPONED, WAITING)
            for i in d.overdue}
