"""The daily dunning run, as a job the scheduler enqueues (app.jobs.SCHEDULE)."""
from __future__ import annotations

from app.core.time import business_today


def run_daily() -> dict[str, int]:
    """Remind today's customers: the same code as `flask dunning run` (idempotent per date)."""
    from app.dunning.engine import run

    return run(business_today(), triggered_by="scheduler").counts
