"""bench/generate.py at a tiny scale, on the test database: consistent data, fresh references."""
from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from stdnum import iso11649
from stdnum.be import vat as be_vat
from stdnum.fr import tva as fr_tva
from stdnum.nl import btw as nl_btw

from app.customers.models import Address, Contact, Customer
from app.customers.services import find_by_number
from app.extensions import db
from app.invoices.models import OPEN_STATUSES, Invoice
from app.invoices.references import is_valid_ogm, references_for_number
from bench.generate import NotEmpty, generate, references
from tests.conftest import database_url
from tests.helpers import make_customer, make_invoice, make_staff_user

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2025, 3, 14)
VAT_CHECKS = {"BE": be_vat, "NL": nl_btw, "FR": fr_tva}


def load(customers=50, invoices=300, **options):
    return generate(customers, invoices, seed=3, today=TODAY, progress=False,
                    echo=lambda line: None, **options)


def all_of(model):
    return db.session.scalars(select(model)).all()


def test_a_small_load_gives_the_rows_asked_for_with_timings_and_baselines():
    report = load()
    counted = {t.table: t.rows for t in report.tables}
    assert counted["customer"] == len(all_of(Customer)) == 50
    assert counted["address"] == len(all_of(Address)) == 50
    assert counted["contact"] == len(all_of(Contact)) >= 50
    assert counted["invoice"] == len(all_of(Invoice)) == 300
    assert all(t.seconds > 0 and t.baseline_seconds > 0 for t in report.tables)
    assert len(report.references) == 300


def test_invoices_have_valid_unique_references_from_the_reserved_block():
    report = load()
    invoices = all_of(Invoice)
    ogms = [i.structured_reference for i in invoices]
    assert all(is_valid_ogm(ogm) for ogm in ogms) and len(set(ogms)) == 300
    assert all(iso11649.is_valid(i.rf_reference) for i in invoices)
    assert sorted(ogms) == sorted(references_for_number(n)[0] for n in report.references)


def test_statuses_open_amounts_and_balances_agree():
    load()
    invoices = all_of(Invoice)
    statuses = Counter(i.status for i in invoices)
    assert statuses["paid"] > statuses["open"] > 0  # most old invoices are paid
    for invoice in invoices:
        assert Decimal(35) <= invoice.total_amount <= Decimal(4800)
        assert invoice.issue_date <= TODAY and invoice.issue_date <= invoice.due_date
        if invoice.status == "open":
            assert invoice.open_amount == invoice.total_amount
        elif invoice.status == "partially_paid":
            assert 0 < invoice.open_amount < invoice.total_amount
        else:
            assert invoice.open_amount == 0
        assert (invoice.paid_on is not None) == (invoice.status == "paid")
    for customer in all_of(Customer):
        expected = sum((i.open_amount for i in invoices
                        if i.customer_id == customer.id and i.status in OPEN_STATUSES),
                       Decimal(0))
        assert customer.balance == expected, customer.number


def test_customers_look_real():
    load(customers=200, invoices=10)
    customers = all_of(Customer)
    assert {c.language for c in customers} == {"fr", "nl", "en"}
    assert {c.kind for c in customers} == {"person", "company"}
    for customer in customers:
        assert re.fullmatch(r"[\w.-]+@example\.(be|nl|fr)", customer.email)
        assert re.fullmatch(r"\+\d{11}", customer.phone)
        if customer.kind == "company":
            assert VAT_CHECKS[customer.country].is_valid(customer.vat_number), customer.vat_number
        assert customer.addresses[0].country == customer.country


def test_the_product_carries_on_after_a_bulk_load():
    report = load()
    customer = make_customer()  # the id sequences were moved past the loaded ids
    invoice = make_invoice(customer, total="120.00")
    assert customer.id > 50 and invoice.id > 300
    assert invoice.structured_reference not in {references_for_number(n)[0]
                                                for n in report.references}
    assert customer.balance == Decimal("120.00")


def test_a_database_with_data_is_refused_unless_truncate_is_given(app):
    make_staff_user(app, "Admin", "keeper")
    number = make_customer().number
    with pytest.raises(NotEmpty, match="--truncate"):
        load()
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0
    assert find_by_number(number) is not None
    db.session.expire_all()
    load(truncate=True)
    assert find_by_number(number) is None
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 50
    assert app.appbuilder.sm.find_user(username="keeper") is not None


@pytest.mark.parametrize("number", [1, 96, 97, 194, 1_234_567_890, 9_999_999_999])
def test_the_fast_references_are_the_apps(number):
    assert references(number) == references_for_number(number)


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_the_command_prints_rows_per_second_next_to_the_baseline():
    command = [sys.executable, "-m", "bench.generate", "--customers", "20", "--invoices", "100",
               "--database-url", database_url()]
    done = run(command)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^invoice\s+100\s+[\d.]+\s+[\d,]+\s+\|\s+[\d.]+\s+[\d,]+", done.stdout,
                     re.MULTILINE), done.stdout
    assert re.search(r"^TOTAL\s+1\d\d\s", done.stdout, re.MULTILINE), done.stdout
    again = run(command)
    assert again.returncode != 0
    assert "--truncate" in again.stderr
