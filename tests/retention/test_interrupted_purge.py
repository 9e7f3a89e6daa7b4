"""A purge killed halfway (kill -9 of its process) shows as interrupted and the next run takes
over; a purge started while another one runs stops with a clear message."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from app.core import job_runs
from app.core.job_runs import JobLock
from app.core.models import utcnow
from app.customers.models import Customer
from app.extensions import db
from app.retention import jobs as retention_jobs
from app.retention import purge
from app.retention.categories import ANONYMISED_NAME
from app.retention.models import RetentionRun
from tests.conftest import _TMP, database_url
from tests.retention.conftest import rich_customer

pytestmark = pytest.mark.usefixtures("rules")
ROOT = Path(__file__).resolve().parents[2]

# Purges one batch, then hangs inside the second one (as a worker stuck or about to be killed).
DOOMED = textwrap.dedent("""
    import sys, time
    from app import create_app
    from app.retention import purge

    app = create_app()
    with app.app_context():
        calls = []

        def hang(batch):
            calls.append(batch)
            if len(calls) == 2:
                print("HANGING", flush=True)
                time.sleep(3600)

        purge._before_commit = hang
        purge.execute(batch_size=2, triggered_by="doomed")
""")


def _start_doomed(tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url(), "JOBS_MODE": "sync",
           "CREDITDESK_INSTANCE_DIR": str(_TMP / "instance"), "SEED_DEMO_DATA": "0",
           "PUBLIC_URL": "http://127.0.0.1:5000", "REDIS_URL": "",
           "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", DOOMED], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for_line(process: subprocess.Popen, line: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        out = process.stdout.readline().decode(errors="replace")
        if not out and process.poll() is not None:
            break
        seen.append(out)
        if line in out:
            return
    process.kill()
    raise AssertionError(f"{line} never came: {''.join(seen)[-3000:]}")


def _age_everything(minutes: int = 30) -> None:
    """As if the killed process had stopped ``minutes`` ago."""
    past = utcnow() - timedelta(minutes=minutes)
    db.session.execute(update(RetentionRun).values(heartbeat_at=past, started_at=past))
    db.session.execute(update(JobLock).values(heartbeat_at=past))
    db.session.commit()


def test_a_purge_killed_halfway_is_interrupted_and_the_next_run_takes_over(tmp_path,
                                                                            staff_client):
    customers = [rich_customer(name=f"Person {n}") for n in range(5)]
    process = _start_doomed(tmp_path)
    try:
        _wait_for_line(process, "HANGING")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    db.session.rollback()
    doomed = db.session.scalar(select(RetentionRun).where(RetentionRun.triggered_by == "doomed"))
    assert doomed.status == "running" and doomed.heartbeat_at is not None

    # While its heartbeat is recent, it may be alive: a new purge waits its turn.
    with pytest.raises(purge.PurgeInProgress):
        purge.execute(batch_size=2, triggered_by="too early")

    _age_everything()
    page = staff_client("Compliance officer").get("/compliance/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "run-status-interrupted" in html
    db.session.rollback()
    assert db.session.get(RetentionRun, doomed.id).status == "interrupted"

    outcome = purge.execute(batch_size=2, triggered_by="takeover")
    assert outcome.subjects == 3  # the first batch (2) was committed before the kill
    db.session.expire_all()
    assert all(db.session.get(Customer, c.id).name == ANONYMISED_NAME for c in customers)
    assert db.session.scalar(select(JobLock)) is None


def test_a_dead_run_is_marked_interrupted_when_the_next_one_starts():
    rich_customer()
    past = utcnow() - timedelta(minutes=30)
    # A process died mid-run: its lease stopped beating too.
    job_runs.acquire_lock(purge.LEASE, purge.STALE_AFTER, now=past)
    dead = RetentionRun(dry_run=False, status="running", started_at=past, heartbeat_at=past,
                        counts={}, pending_files=[])
    db.session.add(dead)
    db.session.commit()
    outcome = purge.execute(triggered_by="next")
    assert outcome.subjects == 1
    db.session.expire_all()
    assert db.session.get(RetentionRun, dead.id).status == "interrupted"
    assert db.session.get(RetentionRun, outcome.run_id).status == "done"


def test_the_daily_job_says_a_purge_is_in_progress(app):
    from app.core.settings import set_setting

    set_setting("retention.auto_purge", True)
    db.session.commit()
    holder = job_runs.acquire_lock(purge.LEASE, purge.STALE_AFTER)
    try:
        assert retention_jobs.daily() == "a purge is in progress; nothing done"
        result = app.test_cli_runner().invoke(args=["retention", "purge"])
        assert result.exit_code == 3 and "in progress" in result.output
    finally:
        job_runs.release_lock(purge.LEASE, holder)
