"""All rows or none: good files import, bad rows are named by line and field, nothing changes."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from app.customers.models import Customer
from app.extensions import db
from app.imports import services
from app.invoices.models import Invoice
from tests.helpers import make_customer, make_invoice
from tests.imports.conftest import SAMPLES, customers_csv, db_state, invoice_row, invoices_csv, ogm


def _invoice(number: str) -> Invoice:
    return db.session.scalar(select(Invoice).where(Invoice.number == number))


def test_good_customers_file_then_good_invoices_file():
    customers = services.run_import("customers", customers_csv())
    invoices = services.run_import("invoices", invoices_csv())

    assert (customers.committed, customers.created, customers.updated) == (True, 2, 0)
    assert (invoices.committed, invoices.rows, invoices.created) == (True, 3, 3)
    first = _invoice("F-1")
    assert first.customer.number == "C100"
    assert first.total_amount == Decimal("1452.00")
    assert first.open_amount == Decimal("1452.00")
    assert (first.issue_date, first.due_date) == (date(2025, 6, 2), date(2025, 7, 2))
    assert first.structured_reference == ogm(1).strip("+").replace("/", "")
    assert _invoice("F-2").structured_reference  # one was given to it
    peeters = db.session.scalar(select(Customer).where(Customer.number == "C100"))
    assert peeters.balance == Decimal("1577.50")
    assert peeters.addresses[0].city == "Antwerpen"


def test_reimporting_the_same_files_updates_instead_of_duplicating():
    services.run_import("customers", customers_csv())
    services.run_import("invoices", invoices_csv())
    changed = invoices_csv([invoice_row("F-1", total="1.500,00", reference=ogm(1))])

    again = services.run_import("customers", customers_csv())
    invoices_again = services.run_import("invoices", invoices_csv())
    changed_report = services.run_import("invoices", changed)

    assert (again.created, again.updated) == (0, 2)
    assert (invoices_again.created, invoices_again.updated) == (0, 3)
    assert (changed_report.created, changed_report.updated) == (0, 1)
    state = db_state()
    assert (state["customers"], state["invoices"], state["addresses"]) == (2, 3, 2)
    assert _invoice("F-1").total_amount == Decimal("1500.00")


def test_the_docs_samples_import_cleanly():
    customers = services.run_import("customers", (SAMPLES / "customers.csv").read_bytes())
    invoices = services.run_import("invoices", (SAMPLES / "invoices.csv").read_bytes())

    assert customers.ok and invoices.ok, customers.errors + invoices.errors
    assert (customers.created, invoices.created) == (6, 7)
    assert db.session.scalar(select(Customer.name).where(Customer.number == "C1006")) \
        == "Zoë Verhaeghe"


BAD_INVOICES = [
    ("invalid structured communication", invoice_row(reference="+++123/4567/89000+++"),
     "structured_reference", "Not a valid structured communication"),
    ("negative amount", invoice_row(total="-10,00"), "total_amount",
     "The amount must be greater than zero."),
    ("non-numeric amount", invoice_row(total="12,5O"), "total_amount", "Not an amount: 12,5O."),
    ("unknown customer", invoice_row(customer="C999"), "customer_number",
     "Unknown customer number: C999."),
    ("wrong date format", invoice_row(due="2025/31/12"), "due_date",
     "Not a date: 2025/31/12."),
    ("due before issue", invoice_row(issue="10/06/2025", due="01/06/2025"), "due_date",
     "The due date cannot be before the issue date."),
    ("missing number", invoice_row(number=" "), "number", "This field is required."),
]


@pytest.mark.parametrize("label, bad_row, field, message", BAD_INVOICES,
                         ids=[case[0] for case in BAD_INVOICES])
def test_a_bad_invoice_row_is_named_by_line_and_field_and_nothing_is_imported(
        known_customers, label, bad_row, field, message):
    good = [invoice_row("F-1", reference=ogm(1)), invoice_row("F-2")]
    data = invoices_csv([good[0], bad_row, good[1]])
    before = db_state()

    report = services.run_import("invoices", data)

    assert not report.committed
    assert [(e.line, e.field) for e in report.errors] == [(3, field)]
    assert message in report.errors[0].message
    assert db_state() == before


def test_a_duplicate_invoice_number_is_an_error_on_the_later_line(known_customers):
    data = invoices_csv([invoice_row("F-1"), invoice_row("F-2"), invoice_row("F-1", total="5")])
    before = db_state()

    report = services.run_import("invoices", data)

    assert [(e.line, e.field, e.message) for e in report.errors] == [
        (4, "number", "Invoice number F-1 is already on line 2 of this file.")]
    assert db_state() == before


def test_a_duplicate_customer_number_is_an_error_on_the_later_line():
    rows = [["C1", "Jan", "", "", "", "", "", ""], ["C2", "Piet", "", "", "", "", "", ""],
            ["C1", "Jan bis", "", "", "", "", "", ""]]
    report = services.run_import("customers", customers_csv(rows))

    assert [(e.line, e.field) for e in report.errors] == [(4, "number")]
    assert db_state()["customers"] == 0


def test_every_error_of_the_file_is_reported_in_line_order(known_customers):
    data = invoices_csv([invoice_row("F-1", total="abc"), invoice_row("F-2"),
                         invoice_row("F-3", customer="C404", due="31/02/2025")])
    report = services.run_import("invoices", data)

    assert [(e.line, e.field) for e in report.errors] == [
        (2, "total_amount"), (4, "due_date")]  # C404 is checked once the row is clean
    report = services.run_import("invoices", invoices_csv(
        [invoice_row("F-1", total="abc"), invoice_row("F-3", customer="C404")]))
    assert [(e.line, e.field) for e in report.errors] == [
        (2, "total_amount"), (3, "customer_number")]


def test_a_bad_customer_row_changes_nothing_even_for_existing_customers():
    services.run_import("customers", customers_csv())
    before = db_state()
    rows = [["C100", "Bakkerij Peeters (renamed)", "company", "nl", "new@peeters.example",
             "Kerkstraat 1", "2000", "Antwerpen"],
            ["C300", "Nieuwe klant", "person", "xx", "", "", "", ""]]

    report = services.run_import("customers", customers_csv(rows))

    assert [(e.line, e.field) for e in report.errors] == [(3, "language")]
    assert db_state() == before


def test_preview_reports_like_the_import_but_changes_nothing(known_customers):
    before = db_state()
    report = services.preview("invoices", invoices_csv())

    assert (report.ok, report.committed, report.rows, report.created) == (True, False, 3, 3)
    assert report.sample[0]["total_amount"] == Decimal("1452.00")  # parsed, as it will be saved
    assert report.sample[0]["due_date"] == date(2025, 7, 2)
    assert db_state() == before  # not even a structured communication number was used up


def test_an_update_that_breaks_a_rule_of_the_invoice_service_is_refused():
    """A structured communication already used by another invoice (checked by upsert_invoice)."""
    customer = make_customer(number="C100")
    existing = make_invoice(customer)
    before = db_state()
    reference = existing.structured_reference
    data = invoices_csv([invoice_row("F-NEW", reference=reference)])

    report = services.run_import("invoices", data)

    assert [(e.line, e.field) for e in report.errors] == [(2, "structured_reference")]
    assert db_state() == before


def test_json_rows_use_the_same_rules_and_aliases(known_customers):
    rows = [{"invoice_number": "F-1", "klantnummer": "C100", "issue_date": "2025-06-01",
             "vervaldag": "2025-07-01", "bedrag": 125.5},
            {"number": "F-2", "customer_number": "C200", "issue_date": "2025-06-01",
             "due_date": "2025-07-01", "total": "-3"}]
    report = services.run_import("invoices", rows)
    assert [(e.line, e.field) for e in report.errors] == [(2, "total_amount")]

    rows[1]["total"] = "3,00"
    report = services.run_import("invoices", rows)
    assert (report.committed, report.created) == (True, 2)
    assert _invoice("F-1").total_amount == Decimal("125.50")


def test_invoice_import_looks_customers_up_in_bulk_not_per_row(known_customers):
    rows = [invoice_row(f"F-{n}", customer="C100" if n % 2 else "C200") for n in range(60)]
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        report = services.run_import("invoices", invoices_csv(rows))
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    assert report.committed
    lookups = [s for s in statements if "FROM customer" in s and "customer.number" in s]
    assert len(lookups) == 1
