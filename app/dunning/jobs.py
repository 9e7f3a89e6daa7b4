"""The daily dunning run, as a job the scheduler enqueues (app.jobs.SCHEDULE)."""
from __future__ import annotations

import logging

from app.core.time import business_today

log = logging.getLogger(__name__)


def run_daily() -> dict[str, int] | str:
    """Remind today's customers: the same code as `flask dunning run` (idempotent per date).

    When a run of today is already in progress (started by hand, or a second enqueue), this one
    does nothing and says so: that run covers the date.
    """
    from app.dunning.runs import RunInProgress, run

    day = business_today()
    try:
        counts = run(day, triggered_by="scheduler").counts
    except RunInProgress:
        log.warning("dunning run for %s not started: a run for this date is in progress", day)
        return f"a run for {day.isoformat()} is in progress; nothing done"
    _refresh_screen(day)
    return counts


def refresh_dry_run_figures() -> None:
    """Today's dry-run counts (app/dunning/dry_run.py) computed before the first view of the
    day, not by it (app.jobs.SCHEDULE)."""
    from app.dunning.dry_run import refresh

    refresh(business_today())


def run_from_screen(run_date_iso: str, username: str | None = None) -> dict[str, int] | str:
    """The run a credit manager starts from the dry-run screen: the same engine, the same lease.

    Progress is written on the date's run row after each committed batch, so that the run page
    (another request, maybe another process) can show it.
    """
    from datetime import date

    from app.dunning.runs import RunInProgress, run

    day = date.fromisoformat(run_date_iso)
    try:
        counts = run(day, triggered_by=username or "screen", progress=_record_progress(day)).counts
    except RunInProgress:
        log.warning("dunning run for %s not started from the screen: a run for this date is in "
                    "progress", day)
        return f"a run for {day.isoformat()} is in progress; nothing done"
    _refresh_screen(day)
    return counts


def _refresh_screen(day) -> None:
    """The dry-run screen's counts of the date again, after its run (app/dunning/dry_run.py).

    The run is committed by then: a failure here only leaves the screen to compute them on its
    next view.
    """
    from app.dunning.dry_run import refresh

    try:
        refresh(day)
    except Exception:
        from app.extensions import db

        db.session.rollback()
        log.exception("dry-run figures of %s not computed after the run", day)


def _record_progress(day):
    from sqlalchemy import select

    from app.dunning.models import DunningRun
    from app.extensions import db

    def progress(done: int, total: int) -> None:
        row = db.session.scalar(select(DunningRun).where(DunningRun.run_date == day,
                                                         DunningRun.dry_run.is_(False))
                                .order_by(DunningRun.id).limit(1))
        if row is not None and row.status == "running":
            # A new dict: the JSON column is not mutation-tracked.
            row.counts = {**(row.counts or {}), "progress_done": done, "progress_total": total}
            db.session.commit()

    return progress
