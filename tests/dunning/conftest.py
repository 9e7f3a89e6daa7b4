"""Dunning test helpers: the shipped defaults, customers of each segment, time travel by run date."""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core.models import PluginConfig
from app.core.time import business_today
from app.customers.models import Customer
from app.dunning.defaults import install_defaults
from app.dunning.models import DunningAction, DunningActionInvoice, DunningLevel, DunningPolicy
from app.extensions import db
from app.invoices.models import Invoice
from app.notifications.models import Message
from tests.helpers import make_customer, make_invoice


def today() -> date:
    """The business day (Europe/Brussels) at the time of use: a module constant taken at import
    went stale when a run crossed midnight in Brussels."""
    return business_today()


def day(offset: int) -> date:
    return today() + timedelta(days=offset)


@pytest.fixture
def defaults():
    """The shipped policies, rates, settings and templates (all of them, as init-db does)."""
    from app.notifications.defaults import install_defaults as install_message_templates

    install_message_templates()
    install_defaults()


def consumer(**fields) -> Customer:
    """A Belgian consumer with an e-mail address and a postal address."""
    data = {"kind": "person", "country": "BE", "language": "fr", "address_line1": "Rue Haute 1",
            "postal_code": "1000", "city": "Bruxelles"}
    data.update(fields)
    return make_customer(**data)


def business(**fields) -> Customer:
    data = {"kind": "company", "country": "BE", "language": "nl",
            "address_line1": "Kerkstraat 1", "postal_code": "9000", "city": "Gent"}
    data.update(fields)
    return make_customer(**data)


def overdue(customer: Customer, days: int, total: str = "100.00", **fields) -> Invoice:
    """An invoice of ``customer`` that is ``days`` days overdue today."""
    return make_invoice(customer, total=total, due_in_days=-days,
                        issue_date=today() - timedelta(days=days + 30), **fields)


def remind_state(invoice: Invoice, level: int, reminded_days_ago: int,
                 effective_days_ago: int | None = None) -> None:
    """Put an invoice at a level as if a reminder went out ``reminded_days_ago`` days ago."""
    invoice.dunning_level = level
    invoice.last_reminded_on = day(-reminded_days_ago)
    invoice.last_reminder_effective_on = day(-(effective_days_ago if effective_days_ago is not None
                                               else reminded_days_ago - 1))
    db.session.commit()


def policy(name: str) -> DunningPolicy:
    return db.session.scalar(select(DunningPolicy).where(DunningPolicy.name == name))


def level(policy_name: str, sequence: int) -> DunningLevel:
    return db.session.scalar(select(DunningLevel).join(DunningPolicy).where(
        DunningPolicy.name == policy_name, DunningLevel.sequence == sequence))


def enable_plugin(name: str, kind: str = "collection_agency", **settings) -> None:
    row = db.session.scalar(select(PluginConfig).where(PluginConfig.name == name))
    if row is None:
        row = PluginConfig(name=name, kind=kind)
        db.session.add(row)
    row.enabled, row.settings = True, settings
    db.session.commit()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def texts(reasons) -> str:
    return " | ".join(r.text() for r in reasons)


URL = re.compile(r"https?://\S+")


def outcome_snapshot() -> dict:
    """What a run produced, comparable between two runs (portal links carry random tokens)."""
    db.session.expire_all()
    actions = sorted(
        (a.customer.number, a.run_date, a.level.sequence, tuple(a.invoice_ids),
         a.amount_due, a.fee_amount, a.channels)
        for a in db.session.scalars(select(DunningAction)))
    lines = sorted((line.invoice_id, line.level_sequence, line.advanced, line.amount, line.fees)
                   for line in db.session.scalars(select(DunningActionInvoice)))
    messages = sorted((m.customer.number, m.channel, m.subject, URL.sub("<url>", m.body_text),
                       m.idempotency_key)
                      for m in db.session.scalars(select(Message)))
    invoices = sorted((i.number, i.dunning_level, i.last_reminded_on,
                       i.last_reminder_effective_on, i.dunning_fees)
                      for i in db.session.scalars(select(Invoice)))
    return {"actions": actions, "lines": lines, "messages": messages, "invoices": invoices}


MONEY = Decimal("0.01")
