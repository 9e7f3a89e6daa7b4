"""The dry-run screen at scale: who is in each outcome comes from a snapshot, the page is live.

Deciding every candidate customer (about 43,000 at 1M invoices) takes more than a second, too
long for each view of the screen. So the screen takes the outcome counts and the customer ids
of each outcome from a snapshot (app.core.snapshots: "dry-run:<date>"), which the page dates
("figures as of ...") and staff can refresh; the scheduler computes today's before the working
day (app.jobs.SCHEDULE) and a real run of the date forgets it (everyone became "already done").

The customers of the page shown (50) are decided again at the time of the view, by the same
engine (``evaluate`` with their ids), with every reason: what a panel says is what a run would
do now. When that differs from the snapshot's outcome (a payment or a dispute since), the panel
says so. A search by customer is decided live as a whole (at most 200 customers).

Nothing here changes what a run does: a run decides every customer again (runs.run), never from
this snapshot; the send confirmation counts live too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from app.core.snapshots import FigureSnapshot, register_figure, snapshot
from app.dunning.engine import OUTCOMES, Decision, Evaluation, evaluate
from app.extensions import db

PREFIX = "dry-run"
# A view of a snapshot older than this queues its refresh (the old one is shown meanwhile).
DRY_RUN_MAX_AGE = timedelta(minutes=15)


@dataclass(frozen=True)
class Membership:
    """The customer ids of each outcome on a date, in id order (what a full evaluation found)."""

    ids: dict[str, list[int]]

    @property
    def counts(self) -> dict[str, int]:
        return {outcome: len(self.ids.get(outcome, ())) for outcome in OUTCOMES}

    def of(self, outcome: str) -> list[int]:
        if outcome == "all":
            return sorted(i for ids in self.ids.values() for i in ids)
        return self.ids.get(outcome, [])


@dataclass
class DryRunPage:
    run_date: date
    counts: dict[str, int]
    decisions: list[Decision]
    total: int
    page: int
    pages: int
    as_of: datetime | None = None          # None: decided live (a search)
    refreshing: bool = False                # an older snapshot, its refresh queued
    changed: set[int] = field(default_factory=set)  # customers whose outcome changed since


def snapshot_name(run_date: date) -> str:
    return f"{PREFIX}:{run_date.isoformat()}"


def membership(run_date: date, fresh: bool = False):
    """The snapshot of ``run_date`` (``.value`` a Membership); computed now if none or fresh."""
    return snapshot(snapshot_name(run_date), DRY_RUN_MAX_AGE, _decode, fresh=fresh)


def refresh(run_date: date) -> None:
    """Compute the date's snapshot again now (staff asked, or the scheduler)."""
    membership(run_date, fresh=True)


def forget(run_date: date) -> None:
    """A run of ``run_date`` changed its outcomes: the next view computes them again."""
    row = db.session.get(FigureSnapshot, snapshot_name(run_date))
    if row is not None:
        db.session.delete(row)
        db.session.commit()


def dry_run_page(run_date: date, outcome: str, page: int, page_size: int,
                 customer_ids: list[int] | None = None) -> DryRunPage:
    """One page of the screen: outcome ``outcome`` (or "all"), customers in id order."""
    if customer_ids is not None:
        evaluation = evaluate(run_date, customer_ids=customer_ids)
        chosen = [d for d in evaluation.decisions if outcome == "all" or d.outcome == outcome]
        pages, page = _pages(len(chosen), page, page_size)
        return DryRunPage(run_date, evaluation.counts,
                          chosen[(page - 1) * page_size:page * page_size], len(chosen), page,
                          pages)
    figures = membership(run_date)
    ids = figures.value.of(outcome)
    pages, page = _pages(len(ids), page, page_size)
    shown = ids[(page - 1) * page_size:page * page_size]
    decisions = evaluate(run_date, customer_ids=shown).decisions if shown else []
    listed_as = {i: o for o, members in figures.value.ids.items() for i in members} \
        if outcome == "all" else dict.fromkeys(shown, outcome)
    changed = {d.customer.id for d in decisions if listed_as.get(d.customer.id) != d.outcome}
    return DryRunPage(run_date, figures.value.counts, decisions, len(ids), page, pages,
                      figures.computed_at, figures.refreshing, changed)


def _pages(total: int, page: int, page_size: int) -> tuple[int, int]:
    pages = max((total + page_size - 1) // page_size, 1)
    return pages, min(page, pages)


def _compute(name: str) -> Evaluation:
    return evaluate(date.fromisoformat(name.split(":", 1)[1]))


def _encode(evaluation: Evaluation) -> dict:
    ids: dict[str, list[int]] = {outcome: [] for outcome in OUTCOMES}
    for decision in evaluation.decisions:  # already in customer id order
        ids[decision.outcome].append(decision.customer.id)
    return {"ids": ids}


def _decode(payload: dict) -> Membership:
    return Membership({outcome: list(payload["ids"].get(outcome, ())) for outcome in OUTCOMES})


register_figure(PREFIX, _compute, _encode)
