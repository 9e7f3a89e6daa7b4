"""Helpers for the import tests: CSV files as ERPs write them, and the state of the database."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.models import NumberSequence
from app.customers.models import Address, Contact, Customer
from app.extensions import db
from app.invoices.models import Invoice
from app.invoices.references import format_ogm, make_ogm

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"

CUSTOMER_HEADER = ["number", "name", "kind", "language", "email", "address_line1",
                   "postal_code", "city"]
INVOICE_HEADER = ["number", "customer_number", "issue_date", "due_date", "total_amount",
                  "description", "structured_reference"]


def csv_bytes(header: list[str], rows: list[list[str]], delimiter: str = ";",
              encoding: str = "utf-8", newline: str = "\r\n") -> bytes:
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
    return (newline.join(lines) + newline).encode(encoding)


def customers_csv(rows: list[list[str]] | None = None, **options) -> bytes:
    rows = rows if rows is not None else [
        ["C100", "Bakkerij Peeters BV", "company", "nl", "boekhouding@peeters.example",
         "Kerkstraat 1", "2000", "Antwerpen"],
        ["C200", "Boulangerie Dupré", "company", "fr", "compta@dupre.example",
         "Rue de Fer 5", "5000", "Namur"],
    ]
    return csv_bytes(CUSTOMER_HEADER, rows, **options)


def ogm(n: int) -> str:
    return format_ogm(make_ogm(7000000000 + n))


def invoices_csv(rows: list[list[str]] | None = None, **options) -> bytes:
    rows = rows if rows is not None else [
        ["F-1", "C100", "02/06/2025", "02/07/2025", "1.452,00", "Meel juni", ogm(1)],
        ["F-2", "C200", "2025-06-03", "2025-07-03", "387,20", "Farine juin", ""],
        ["F-3", "C100", "05/06/2025", "05/07/2025", "125.50", "Meel extra", ogm(3)],
    ]
    return csv_bytes(INVOICE_HEADER, rows, **options)


def invoice_row(number: str = "F-9", customer: str = "C100", issue: str = "01/06/2025",
                due: str = "01/07/2025", total: str = "100,00", description: str = "Test",
                reference: str = "") -> list[str]:
    return [number, customer, issue, due, total, description, reference]


def db_state() -> dict[str, object]:
    """Everything an import could change, to compare before and after a refused file."""
    def count(model):
        return db.session.scalar(select(func.count()).select_from(model))

    return {
        "customers": count(Customer),
        "contacts": count(Contact),
        "addresses": count(Address),
        "invoices": count(Invoice),
        "customer_rows": sorted(db.session.execute(
            select(Customer.number, Customer.name, Customer.email, Customer.balance)).all()),
        "invoice_rows": sorted(db.session.execute(
            select(Invoice.number, Invoice.total_amount, Invoice.due_date)).all()),
        "sequences": sorted(db.session.execute(
            select(NumberSequence.name, NumberSequence.next_value)).all()),
    }


@pytest.fixture
def known_customers():
    """C100 and C200 exist, as after importing the customers file."""
    from app.imports import services

    report = services.run_import("customers", customers_csv())
    assert report.committed, report.errors
    return report
