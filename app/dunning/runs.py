"""A dunning run: apply one date's decisions, batch by batch of customers. Idempotent.

Each batch is one transaction: its DunningActions, the invoices' new levels, the outbox messages
and the broken promises and plans are committed together (app/dunning/apply.py). A customer with
an action on the run date is skipped, so running the same date again, or again after a crash in
the middle, gives exactly the result of one clean run. The decisions themselves are the engine's
(app/dunning/engine.py), the same the dry run shows; this module sits above the engine, apply
and messages, so none of those imports another one back.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from app.core import job_runs
from app.core.settings import get_setting
from app.dunning.apply import apply_batch, finish_run, start_run
from app.dunning.collection import hand_over_pending
from app.dunning.dry_run import forget
from app.dunning.engine import decide_all
from app.dunning.snapshot import candidate_customer_ids, load, load_policies
from app.extensions import db


@dataclass
class RunResult:
    run_id: int
    run_date: date
    counts: dict[str, int]


def run(run_date: date, *, triggered_by: str | None = None, batch_size: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        after_batch: Callable[[int], None] | None = None) -> RunResult:
    """Apply the decisions of ``run_date``: actions, levels, messages, hand-overs. Idempotent.

    ``progress(done, total)`` is called after each batch; ``after_batch(n)`` too (tests use it
    to crash the run after a committed batch). RunInProgress when another run of that date
    is running.
    """
    # One run per date at a time: a second one started in parallel stops here, cleanly; a run
    # whose process died (no heartbeat for a while) is taken over. Its actions are idempotent.
    lease = f"dunning-run-{run_date.isoformat()}"
    try:
        holder = job_runs.acquire_lock(lease, RUN_STALE_AFTER)
    except job_runs.LockBusy:
        raise RunInProgress(run_date) from None
    try:
        return _run_locked(run_date, lease, holder, triggered_by, batch_size, progress,
                           after_batch)
    finally:
        job_runs.release_lock(lease, holder)


# A run that has not finished a batch for this long is taken to be dead.
RUN_STALE_AFTER = timedelta(minutes=10)


class RunInProgress(Exception):
    """Another dunning run for this date is still running."""

    def __init__(self, run_date: date) -> None:
        super().__init__(f"a dunning run for {run_date.isoformat()} is in progress")
        self.run_date = run_date


def _run_locked(run_date, lease, holder, triggered_by, batch_size, progress,
                after_batch) -> RunResult:
    run_row_id = start_run(run_date, triggered_by)
    counts: Counter[str] = Counter()
    tried: set[int] = set()
    try:
        customer_ids = candidate_customer_ids(run_date)
        size = max(int(batch_size or get_setting("dunning.batch_size")), 1)
        policies = load_policies()
        for number, start in enumerate(range(0, len(customer_ids), size), start=1):
            snapshot = load(run_date, customer_ids[start:start + size], policies)
            batch_counts, handovers = apply_batch(run_row_id, snapshot, decide_all(snapshot))
            job_runs.heartbeat(lease, holder)
            db.session.commit()  # the batch is done: actions, levels, messages, broken promises
            counts.update(batch_counts)
            counts.update(hand_over_pending(handovers))
            tried.update(handovers)
            if handovers:  # the agency may be slow: still alive after the hand-overs
                job_runs.heartbeat(lease, holder)
                db.session.commit()
            if progress is not None:
                progress(min(start + size, len(customer_ids)), len(customer_ids))
            if after_batch is not None:
                after_batch(number)
        # Hand-overs that failed earlier (agency down, crash after a commit) are retried.
        counts.update(hand_over_pending(None, skip=tried))
    except BaseException:
        db.session.rollback()
        finish_run(run_row_id, "failed", counts)
        forget(run_date)
        raise
    result = RunResult(run_row_id, run_date, finish_run(run_row_id, "done", counts))
    # The dry-run screen's counts of this date no longer hold (reminded customers are done now).
    forget(run_date)
    return result
