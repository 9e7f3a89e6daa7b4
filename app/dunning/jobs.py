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
    from app.dunning.engine import RunInProgress, run

    day = business_today()
    try:
        return run(day, triggered_by="scheduler").counts
    except RunInProgress:
        log.warning("dunning run for %s not started: a run for this date is in progress", day)
        return f"a run for {day.isoformat()} is in progress; nothing done"
