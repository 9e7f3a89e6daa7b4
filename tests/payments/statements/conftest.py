"""Fixtures for the statement tests: the published sample files, customers with invoices,
statement files built from the standards (builders.py), and the state of the database."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.invoices.models import Invoice
from app.payments.incoming.models import BankStatement, StatementLine
from app.payments.models import Allocation, Payment
from tests.helpers import make_customer, make_invoice

# The published samples live beside the repository (shared/samples/bank-statements), in CI too.
SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "samples" / "bank-statements"


def sample(name: str) -> bytes:
    if not SAMPLES.is_dir():
        pytest.skip(f"the published sample statements are not there: {SAMPLES} is missing")
    return (SAMPLES / name).read_bytes()


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def state() -> dict:
    """Everything an import may write, to show that a refused file changed nothing."""
    db.session.expire_all()
    return {
        "statements": count(BankStatement), "lines": count(StatementLine),
        "payments": count(Payment), "allocations": count(Allocation),
        "invoices": sorted(db.session.execute(
            select(Invoice.number, Invoice.status, Invoice.open_amount)).all()),
    }


def fresh(record):
    """The record as the database has it now."""
    db.session.expire_all()
    return db.session.get(type(record), record.id)


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


@pytest.fixture
def customer():
    return make_customer(name="Brasserie Dupont", email="compta@dupont.example")


@pytest.fixture
def invoices(customer):
    """Three open invoices of one customer: oldest (due 40 days ago) first."""
    return [make_invoice(customer, "121.00", due_in_days=-40),
            make_invoice(customer, "250.00", due_in_days=-10),
            make_invoice(customer, "80.00", due_in_days=20)]


@pytest.fixture
def templates():
    """The shipped message templates, so that thank-you messages are really queued."""
    defaults = pytest.importorskip("app.notifications.defaults")
    defaults.install_defaults()
