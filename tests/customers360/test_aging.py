"""Aging buckets, segments and totals on a small fixture; DSO; CSV and XLSX exports."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.insights.aging import aging_report, dso_trend, month_ends
from app.invoices.models import OPEN_STATUSES, Invoice
from tests.helpers import make_customer, make_invoice

TODAY = date.today()


def _invoice(customer, total, days_overdue):
    return make_invoice(customer, total=total, due_in_days=-days_overdue,
                        issue_date=TODAY - timedelta(days=max(days_overdue, 0) + 30))


@pytest.fixture
def book():
    anna = make_customer(name="Anna", kind="person", language="fr", country="BE")
    bakery = make_customer(name="Bakery", kind="company", language="nl", country="NL")
    _invoice(anna, "100.00", -5)     # not yet due
    _invoice(anna, "10.00", 0)       # due today: not yet overdue
    _invoice(anna, "20.00", 1)       # 1-30
    _invoice(anna, "30.00", 30)      # 1-30
    _invoice(bakery, "40.00", 31)    # 31-60
    _invoice(bakery, "50.00", 60)    # 31-60
    _invoice(bakery, "60.00", 61)    # 61-90
    _invoice(bakery, "70.00", 90)    # 61-90
    _invoice(bakery, "80.00", 91)    # over 90
    paid = _invoice(bakery, "999.00", 120)
    paid.status, paid.open_amount = "paid", Decimal("0.00")
    db.session.commit()
    return anna, bakery


def D(value):
    return Decimal(value)


def test_buckets_are_exact_and_total_is_the_sum_of_open_amounts(book):
    anna, bakery = book
    report = aging_report(TODAY)
    assert report.total.buckets == {"not_due": D("110.00"), "d1_30": D("50.00"),
                                    "d31_60": D("90.00"), "d61_90": D("130.00"),
                                    "over_90": D("80.00")}
    open_sum = db.session.scalar(select(func.sum(Invoice.open_amount)).where(
        Invoice.status.in_(OPEN_STATUSES)))
    assert report.total.total == open_sum == D("460.00")
    assert report.total.count == 9
    by_customer = {row.customer_id: row for row in report.customers}
    assert by_customer[anna.id].total == D("160.00")
    assert by_customer[bakery.id].overdue == D("300.00")
    assert [r.customer_id for r in report.customers] == [bakery.id, anna.id]  # largest first
    kinds = {row.key: row.total for row in report.segments["kind"]}
    assert kinds == {"person": D("160.00"), "company": D("300.00")}
    assert {row.key: row.total for row in report.segments["country"]} == {
        "BE": D("160.00"), "NL": D("300.00")}
    assert sum(r.total for r in report.segments["language"]) == report.total.total


def test_customer_pages(book):
    first = aging_report(TODAY, customer_limit=1)
    second = aging_report(TODAY, customer_limit=1, customer_offset=1)
    assert first.has_more and not second.has_more
    assert first.customers[0].customer_id != second.customers[0].customer_id


def test_dso_trend_has_twelve_points_ending_today(book):
    trend = dso_trend(TODAY)
    assert len(trend) == 12 and trend[-1].at == TODAY
    assert month_ends(date(2026, 3, 15))[-2] == date(2026, 2, 28)
    now = trend[-1]
    assert now.receivables == D("460.00")
    # Credit sales of the last 90 days: every invoice issued since then (the paid one too).
    assert now.sales > 0 and now.dso == (now.receivables / now.sales * 90).quantize(D("0.1"))


def test_report_page_and_exports(staff_client, book):
    client = staff_client("Read-only")
    page = client.get("/insights/aging")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in html and "Anna" in html
    assert "http://" not in html.split("<svg", 1)[1].split("</svg>")[0].replace(
        'xmlns="http://www.w3.org/2000/svg"', "")

    response = client.get("/insights/aging.csv")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")),
                           delimiter=";"))
    total = next(r for r in rows if r[0] == "Total")
    assert total[-1] == "460.00"

    from openpyxl import load_workbook

    response = client.get("/insights/aging.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "Section"
    assert Decimal(str(values[-1][-1])) == D("460.00")


def test_formula_like_names_are_neutralised(staff_client):
    customer = make_customer(name="=HYPERLINK(\"http://evil\")")
    make_invoice(customer, total="10.00")
    body = staff_client("AR clerk").get("/insights/aging.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in body and ';"=HYPERLINK' not in body and ";=HYPERLINK" not in body


def test_open_credit_notes_bring_the_total_to_the_net_balance_of_the_book(staff_client, book):
    """Credit notes are not aged, but the report's bottom line is what customers owe net, the
    same figure as the sum of their balances."""
    from app.customers.models import Customer
    from app.customers.services import compute_balance
    from app.invoices.models import CreditNote
    from app.payments.models import Payment

    bakery = db.session.scalar(select(Customer).where(Customer.name == "Bakery"))
    db.session.add_all([
        CreditNote(customer=bakery, number="CN-1", issue_date=TODAY, amount=D("25.00"),
                   open_amount=D("25.00"), status="open"),
        CreditNote(customer=bakery, number="CN-2", issue_date=TODAY, amount=D("9.00"),
                   open_amount=D("0.00"), status="allocated"),
    ])
    # Money received and not allocated is a credit too; unidentified money (no customer) and
    # a returned payment are not.
    db.session.add_all([
        Payment(customer=bakery, amount=D("15.00"), unallocated_amount=D("15.00"),
                received_on=TODAY, status="unmatched"),
        Payment(customer=None, amount=D("99.00"), unallocated_amount=D("99.00"),
                received_on=TODAY, status="unmatched"),
        Payment(customer=bakery, amount=D("7.00"), unallocated_amount=D("7.00"),
                received_on=TODAY, status="returned"),
    ])
    db.session.commit()
    report = aging_report(TODAY)
    assert report.total.total == D("460.00")
    assert report.open_credit_notes == D("25.00") and report.unallocated_payments == D("15.00")
    assert report.net_balance == D("420.00")
    balances = sum(compute_balance(c.id) for c in db.session.scalars(select(Customer)))
    assert report.net_balance == balances

    client = staff_client("Read-only")
    html = client.get("/insights/aging").get_data(as_text=True)
    assert 'id="aging-net"' in html and 'data-amount="420.00"' in html
    rows = list(csv.reader(io.StringIO(client.get("/insights/aging.csv").get_data(
        as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert [rows[-3][-1], rows[-2][-1], rows[-1][-1]] == ["-25.00", "-15.00", "420.00"]

    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(client.get("/insights/aging.xlsx").data)).active
    assert Decimal(str(list(sheet.iter_rows(values_only=True))[-1][-1])) == D("420.00")
