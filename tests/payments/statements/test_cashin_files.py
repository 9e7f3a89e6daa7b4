"""Issue 15, items 3, 5, 6 and 7: references the matcher finds, dates, encodings, ZIP archives,
dry runs and messages (files built from the standards, see builders.py)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.settings import set_setting
from app.extensions import db
from app.invoices.references import format_rf
from app.payments.incoming.cli import import_statement_command
from app.payments.incoming.importing import import_statement
from app.payments.incoming.models import BankStatement, StatementLine
from app.payments.incoming.statements import StatementFileError, parse_statement_file
from app.payments.models import Allocation
from tests.helpers import make_customer, make_invoice
from tests.payments.statements.builders import CodaMovement, Entry, Tx, camt053, coda
from tests.payments.statements.conftest import count, fresh, state


def _text_entry(amount, text: str, ref: str = "1", strd=()) -> Entry:
    return Entry(amount, ref=ref, txs=[Tx(ustrd=[text] if text else [], strd=list(strd),
                                          iban=None)])


def _line(amount) -> StatementLine:
    return db.session.scalar(select(StatementLine).where(StatementLine.amount == D(amount)))


# --- 5. references the matcher finds ------------------------------------------------------------

def test_invoice_numbers_separated_by_slashes(customer):
    invoice = make_invoice(customer, "540.00", number="2022-12-13540")
    report = import_statement(camt053([_text_entry(
        "540.00", "/INV/2022-12-13540/2022-12-13540")]), "s.xml")
    assert report.matched.count == 1
    line = _line("540.00")
    assert line.match_rule == "invoice_number" and line.match_confidence == D("0.950")
    assert fresh(invoice).status == "paid"


def test_one_transfer_paying_four_invoices_named_in_its_text(customer):
    four = [make_invoice(customer, amount) for amount in ("100.00", "45.50", "20.00", "9.99")]
    decoy = make_invoice(customer, "175.49")  # the same amount as the transfer, not named
    numbers = [invoice.number for invoice in four]
    text = f"Facturen {numbers[0]}, {numbers[1]}/{numbers[2]} en {numbers[3]}"
    report = import_statement(camt053([_text_entry("175.49", text)]), "s.xml")
    assert report.matched.count == 1
    assert all(fresh(invoice).status == "paid" for invoice in four)
    assert fresh(decoy).status == "open"
    assert count(Allocation) == 4


def test_named_invoices_that_do_not_add_up_wait_for_a_person(customer):
    two = [make_invoice(customer, "100.00"), make_invoice(customer, "50.00")]
    decoy = make_invoice(customer, "120.00")  # the amount paid: never taken for the named ones
    report = import_statement(camt053([_text_entry(
        "120.00", f"{two[0].number} {two[1].number}")]), "s.xml")
    assert report.matched.count == 0 and report.suggested.count == 1
    assert "amount_differs" in _line("120.00").suggestion["notes"]
    assert count(Allocation) == 0 and fresh(decoy).status == "open"


def test_a_decoy_with_the_same_amount_is_never_matched():
    payer, other = make_customer(name="Payer"), make_customer(name="Other")
    make_invoice(payer, "77.00")
    decoy = make_invoice(other, "77.00")
    report = import_statement(camt053([_text_entry("77.00", "merci")]), "s.xml")
    assert report.matched.count == 0
    assert fresh(decoy).status == "open" and count(Allocation) == 0


def test_dutch_betalingskenmerk(customer):
    invoice = make_invoice(customer, "300.00", number="2025000123")
    # 16 digits: a check digit, then the number padded with zeros (SCOR, issuer CUR).
    entry = _text_entry("300.00", "", strd=[("9000002025000123", "SCOR", "CUR")])
    report = import_statement(camt053([entry]), "nl.xml")
    assert report.matched.count == 1
    line = _line("300.00")
    assert line.structured_reference == "9000002025000123"
    assert line.match_rule == "betalingskenmerk" and fresh(invoice).status == "paid"


@pytest.mark.parametrize("written", [
    "{a}.{b}.{c}", "{a}-{b}-{c}", "OGM: {a} / {b} / {c}", "***{a}/{b}/{c}***", "{a}{b}{c}"])
def test_an_ogm_typed_in_free_text_with_any_separator(invoices, written):
    ogm = invoices[1].structured_reference
    text = "Betaling " + written.format(a=ogm[:3], b=ogm[3:7], c=ogm[7:])
    report = import_statement(camt053([_text_entry("250.00", text)]), "s.xml")
    assert report.matched.count == 1
    assert _line("250.00").match_rule == "reference_in_text"
    assert fresh(invoices[1]).status == "paid"


@pytest.mark.parametrize("separator", [" ", "-", ".", ""])
def test_an_rf_reference_in_free_text_with_any_separator(invoices, separator):
    rf = format_rf(invoices[0].rf_reference).replace(" ", separator)
    report = import_statement(camt053([_text_entry("121.00", f"paiement {rf} merci")]), "s.xml")
    assert report.matched.count == 1 and fresh(invoices[0]).status == "paid"


def test_an_ogm_inside_a_longer_number_is_not_taken(invoices):
    ogm = invoices[0].structured_reference
    report = import_statement(camt053([_text_entry("121.00", f"ref 9{ogm}7")]), "s.xml")
    assert report.matched.count == 0 and fresh(invoices[0]).status == "open"


# --- 3. and 6. dates --------------------------------------------------------------------------

def test_a_coda_value_date_000000_is_the_booking_date():
    data = coda([CodaMovement("10.00", value_date="000000", booked=date(2025, 3, 3))])
    report = import_statement(data, "v.cod")
    assert report.ok, report.error
    line = db.session.scalar(select(StatementLine))
    assert line.value_date == line.booking_date == date(2025, 3, 3)


@pytest.mark.parametrize("written, brussels", [
    ("2025-03-03T23:30:00Z", date(2025, 3, 4)),  # CET: 00:30 on the 4th
    ("2025-07-01T22:15:00Z", date(2025, 7, 2)),  # CEST: 00:15 on the 2nd
    ("2025-07-01T21:59:00Z", date(2025, 7, 1)),
    ("2025-03-03T23:30:00+01:00", date(2025, 3, 3)),
    ("2025-03-03T23:30:00", date(2025, 3, 3)),  # no offset: the bank's local time
])
def test_a_utc_booking_date_time_is_the_brussels_date(written, brussels):
    parsed = parse_statement_file(camt053([Entry("5.00", ref="1", booked_at=written)]))
    assert parsed.entries[0].booking_date == brussels


# --- 7. encodings, messages, end-to-end ids ---------------------------------------------------

def _accented() -> bytes:
    return camt053([Entry("12.00", ref="1", txs=[Tx(name="Société Générale Zürich",
                                                    ustrd=["Facture été"])])])


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
def test_utf16_and_utf8_bom_xml_are_read(codec):
    text = _accented().decode("utf-8")
    if codec.startswith("utf-16"):
        text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"')
    parsed = parse_statement_file(text.encode(codec))
    entry = parsed.entries[0]
    assert entry.amount == D("12.00") and entry.counterparty_name == "Société Générale Zürich"


def test_a_coda_saved_as_utf8_is_refused_saying_so():
    latin = coda([CodaMovement("10.00", name="Société Générale", text="Facture été")])
    before = state()
    report = import_statement(latin.decode("latin-1").encode("utf-8"), "k.cod")
    assert report.error_code == "coda_utf8" and "UTF-8" in report.error
    assert state() == before
    assert import_statement(latin, "k.cod").ok  # the original, Latin-1, is read


def test_errors_name_the_statement_and_the_entry():
    good = camt053([Entry("1.00", ref="1")], statement_id="FIRST")
    bad = camt053([Entry("2.00", ref="2"), Entry("12,50", ref="3")], statement_id="SECOND")
    both = good.replace(b"</BkToCstmrStmt>", bad[bad.index(b"<Stmt>"):
                                                  bad.index(b"</BkToCstmrStmt>")]
                        + b"</BkToCstmrStmt>")
    with pytest.raises(StatementFileError) as refused:
        parse_statement_file(both)
    message = refused.value.message
    assert "Statement 2 of 2 (SECOND)" in message and "Entry 2" in message and "12,50" in message


def test_not_provided_end_to_end_ids_are_absent():
    parsed = parse_statement_file(camt053([
        Entry("1.00", ref="1", txs=[Tx(end_to_end="NOT PROVIDED")]),
        Entry("2.00", ref="2", txs=[Tx(end_to_end="NOTPROVIDED")]),
        Entry("3.00", ref="3", txs=[Tx(end_to_end="E2E-42")])]))
    assert [e.end_to_end_id for e in parsed.entries] == [None, None, "E2E-42"]
    coded = parse_statement_file(coda([CodaMovement("1.00", end_to_end="NOT PROVIDED"),
                                       CodaMovement("2.00", end_to_end="E2E-7")]))
    assert [e.end_to_end_id for e in coded.entries] == [None, "E2E-7"]


# --- 7. entry points: dry run, ZIP, the API's limit, a database without tables ---------------

def test_dry_run_prints_what_would_be_booked_and_changes_nothing(app, tmp_path, invoices):
    ogm = invoices[0].structured_reference
    path = tmp_path / "s.xml"
    path.write_bytes(camt053([_text_entry("121.00", "", strd=[(ogm, "SCOR", "BBA")])]))
    before = state()
    result = app.test_cli_runner().invoke(import_statement_command, [str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.output and "1 matched automatically" in result.output
    assert "€121.00" in result.output
    assert state() == before
    real = app.test_cli_runner().invoke(import_statement_command, [str(path)])
    assert real.exit_code == 0 and fresh(invoices[0]).status == "paid"


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_a_zip_of_statement_files_imports_each(app, invoices):
    ogm = invoices[0].structured_reference
    data = _zip({"day1.xml": camt053([_text_entry("121.00", "", strd=[(ogm, "SCOR", "BBA")])],
                                     statement_id="D1"),
                 "sub/day2.cod": coda([CodaMovement("10.00")]),
                 "readme.txt": b"not a statement"})
    report = import_statement(data, "march.zip")
    assert report.ok and report.committed
    assert [part["ok"] for part in report.files] == [True, True, False]
    assert report.matched.count == 1 and report.new_lines == 2
    assert count(BankStatement) == 2
    assert any("readme.txt" in warning for warning in report.warnings)
    again = import_statement(data, "march.zip")  # every file already there: nothing again
    assert not again.ok and count(BankStatement) == 2
    client = app.test_client()
    from tests.api.support import ApiClient, jwt_for

    api = ApiClient(client, jwt_for(app, client, "AR clerk"))
    pushed = client.post("/api/v1/statements", data=_zip({"d3.cod": coda(
        [CodaMovement("3.00")], number="043")}),
        headers={**api.headers, "Content-Type": "application/zip"})
    assert pushed.status_code == 201, pushed.get_json()
    assert pushed.get_json()["files"][0]["file_name"] == "d3.cod"


def test_zip_bombs_are_refused_before_unpacking():
    before = state()
    set_setting("payments.statement_max_mb", 1)
    set_setting("payments.zip_max_files", 3)
    db.session.commit()
    big = _zip({"big.xml": b"<" + b"0" * (3 * 1024 * 1024)})
    assert len(big) < 100_000
    report = import_statement(big, "bomb.zip")
    assert report.error_code == "too_large" and "1 MB" in report.error
    many = _zip({f"s{n}.cod": b"x" for n in range(4)})
    assert import_statement(many, "many.zip").error_code == "too_large"
    nested = _zip({"inner.zip": _zip({"a.cod": b"x"})})
    assert import_statement(nested, "nested.zip").error_code == "unsupported_format"
    assert state() == before


def test_the_api_413_names_the_limit_in_force(app):
    from tests.api.support import ApiClient, jwt_for

    client = app.test_client()
    api = ApiClient(client, jwt_for(app, client, "AR clerk"))
    saved = app.config.get("MAX_CONTENT_LENGTH")
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024  # the server's limit, below the setting
    try:
        response = client.post("/api/v1/statements", data=b"0" * (3 * 1024 * 1024),
                               headers={**api.headers, "Content-Type": "text/plain"})
    finally:
        app.config["MAX_CONTENT_LENGTH"] = saved
    assert response.status_code == 413
    text = response.get_data(as_text=True)
    assert "2 MB" in text and "100 MB" not in text


def test_an_instance_without_tables_gets_a_message_not_a_traceback(tmp_path):
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
           "PUBLIC_URL": "https://credit.example.test", "FLASK_APP": str(root / "wsgi.py"),
           "REDIS_URL": ""}
    statement = tmp_path / "s.cod"
    statement.write_bytes(coda([CodaMovement("1.00")]))
    result = subprocess.run([sys.executable, "-m", "flask", "import-statement", str(statement)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 1
    assert "flask init-db" in result.stderr and "Traceback" not in result.stderr
