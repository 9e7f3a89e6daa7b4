"""`flask dunning run [--date D] [--dry-run]`."""
from __future__ import annotations

import pytest

from app.dunning.cli import dunning
from app.dunning.models import DunningAction, DunningRun
from app.notifications.models import Message
from tests.dunning.conftest import consumer, count, day, overdue, today

pytestmark = pytest.mark.usefixtures("defaults")


def invoke(app, *args):
    return app.test_cli_runner().invoke(dunning, ["run", *args])


def test_dry_run_prints_each_decision_and_why_and_changes_nothing(app):
    reminded = consumer(name="Marie Dupont")
    invoice = overdue(reminded, 10, total="120.00")
    blocked = consumer(name="Luc Mertens")
    kept_out = overdue(blocked, 10)
    kept_out.dunning_blocked, kept_out.dunning_block_reason = True, "promised by phone"
    from app.extensions import db

    db.session.commit()

    result = invoke(app, "--dry-run", "--date", today().isoformat())

    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Dry run for {today().isoformat()}: nothing is changed" in out
    assert "remind: 1" in out and "excluded: 1" in out
    assert reminded.number in out and "First reminder (free)" in out
    assert invoice.number in out and "10 days overdue: reaches level 1" in out
    assert "Excluded from reminders by hand: promised by phone" in out
    assert count(DunningAction) == count(Message) == count(DunningRun) == 0

    only = invoke(app, "--dry-run", "--customer", blocked.number, "--show", "excluded")
    assert blocked.number in only.output and reminded.number not in only.output


def test_run_applies_once_per_date(app):
    overdue(consumer(), 10)
    first = invoke(app, "--date", today().isoformat())
    assert first.exit_code == 0, first.output
    assert "remind: 1" in first.output and "messages: 1" in first.output
    again = invoke(app, "--date", today().isoformat())
    assert "done: 1" in again.output
    assert count(DunningAction) == 1 and count(Message) == 1 and count(DunningRun) == 1
    later = invoke(app, "--date", day(1).isoformat())
    assert later.exit_code == 0 and count(DunningRun) == 2 and count(DunningAction) == 1


def test_bad_input_is_a_clear_message(app):
    result = invoke(app, "--date", "31/02/2025")
    assert result.exit_code == 2 and "Invalid value for '--date'" in result.output
    result = invoke(app, "--dry-run", "--customer", "NOPE")
    assert result.exit_code == 2 and "unknown customer number(s): NOPE" in result.output
    result = invoke(app, "--customer", "NOPE")
    assert result.exit_code == 2 and "--customer only works with --dry-run" in result.output


def test_the_scheduled_job_does_what_the_command_does(app):
    from app.dunning.jobs import run_daily
    from app.jobs import resolve

    overdue(consumer(), 10)
    counts = resolve("app.dunning.jobs.run_daily")()
    assert counts["remind"] == 1 and count(DunningAction) == 1
    assert run_daily()["done"] == 1 and count(Message) == 1
