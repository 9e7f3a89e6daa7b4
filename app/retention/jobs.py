"""Retention jobs (RQ or in-process): the daily purge, and a real run approved from a dry run.

Both are idempotent: a purge run twice does nothing the second time (see purge.py).
"""
from __future__ import annotations

import logging

from app.core.settings import get_setting
from app.extensions import db
from app.retention import purge
from app.retention.models import RetentionRun

log = logging.getLogger(__name__)


def daily() -> str:
    """The scheduled job: a real purge when ``retention.auto_purge`` is on, otherwise a dry
    run the Compliance officer approves on the dashboard."""
    if get_setting("retention.auto_purge"):
        try:
            outcome = purge.execute(triggered_by="scheduler")
        except purge.PurgeInProgress:
            log.warning("retention: daily purge not started, a purge is in progress")
            return "a purge is in progress; nothing done"
        return f"run {outcome.run_id}: {outcome.subjects} subjects"
    run = purge.dry_run(triggered_by="scheduler")
    return f"dry run {run.id}: {run.counts.get('_subjects', 0)} subjects to approve"


def run_approved(dry_run_id: int, user_name: str) -> str:
    """The real run of an approved dry run, counted from the dry run's day."""
    dry = db.session.get(RetentionRun, dry_run_id)
    if dry is None or not dry.dry_run or dry.approved_at is None:
        log.warning("retention: dry run %s is not approved; nothing done", dry_run_id)
        return "not approved"
    already = db.session.query(RetentionRun).filter(
        RetentionRun.source_run_id == dry.id, RetentionRun.status == "done").first()
    if already is not None:
        return f"already run as {already.id}"
    try:
        outcome = purge.execute(triggered_by=user_name, source_run=dry)
    except purge.PurgeInProgress:
        # RQ retries the job later (Retry in app.jobs.enqueue): the approval is not lost.
        log.warning("retention: approved run of dry run %s waits for the purge in progress",
                    dry_run_id)
        raise
    return f"run {outcome.run_id}: {outcome.subjects} subjects"
