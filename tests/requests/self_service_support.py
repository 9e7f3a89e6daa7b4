"""Shared by the deferral, plan and dispute tests (kept out of conftest.py, which another
helper may own)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.core.settings import set_setting
from app.extensions import db
from app.notifications.models import Message


@pytest.fixture
def templates(app):
    """The shipped message templates: approvals and broken promises are really queued."""
    from app.notifications.defaults import install_defaults

    install_defaults()
    db.session.commit()


def events(customer) -> list[str]:
    return [m.event for m in db.session.query(Message).filter(Message.customer_id == customer.id)
            .order_by(Message.id)]


def settings(**values) -> None:
    """settings(deferral__max_days=10) -> self_service.deferral.max_days = 10."""
    for key, value in values.items():
        set_setting("self_service." + key.replace("__", "."), value)
    db.session.commit()


D = Decimal


@pytest.fixture
def same_day(monkeypatch):
    """Tests build dates from date.today() (tests/helpers.py); around midnight UTC Brussels is
    already a day further, so the services' "today" is pinned to the same calendar."""
    from datetime import date

    for module in ("app.requests.deferrals", "app.requests.plans", "app.accounts.invoice_states",
                   "app.accounts.overview", "app.accounts.invoice_list",
                   "app.accounts.statement"):
        monkeypatch.setattr(f"{module}.business_today", date.today)
