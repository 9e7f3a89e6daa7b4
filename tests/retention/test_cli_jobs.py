"""`flask retention purge|replay` and the scheduled job."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.settings import set_setting
from app.customers.models import Customer
from app.extensions import db
from app.jobs import SCHEDULE
from app.retention import jobs
from app.retention.categories import ANONYMISED_NAME
from app.retention.models import RetentionRun
from tests.retention.conftest import rich_customer

pytestmark = pytest.mark.usefixtures("rules")


def test_cli_dry_run_then_purge_then_replay(app):
    customer = rich_customer(name="Marie Dupont")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["retention", "purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "nothing was changed" in result.output and "contacts" in result.output
    assert f"contact:{customer.contacts[0].id}" in result.output
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).name == "Marie Dupont"
    result = runner.invoke(args=["retention", "purge", "--batch-size", "10"])
    assert result.exit_code == 0, result.output
    assert "1 customers" in result.output and "longest transaction" in result.output
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).name == ANONYMISED_NAME
    result = runner.invoke(args=["retention", "replay"])
    assert result.exit_code == 0, result.output
    assert "0 customers purged again" in result.output


def test_daily_job_prepares_a_dry_run_unless_auto_purge(app):
    assert any(j.func == "app.retention.jobs.daily" for j in SCHEDULE)
    customer = rich_customer()
    assert jobs.daily().startswith("dry run")
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).anonymised_at is None
    dry = db.session.scalar(select(RetentionRun))
    assert jobs.run_approved(dry.id, "nobody") == "not approved"
    set_setting("retention.auto_purge", True)
    db.session.commit()
    assert jobs.daily().startswith("run")
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).anonymised_at is not None
