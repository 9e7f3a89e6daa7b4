"""Reading the files ERPs and spreadsheets really write: encodings, separators, broken files."""
from __future__ import annotations

import os

import pytest

from app.customers.models import Customer
from app.extensions import db
from app.imports import services
from app.imports.columns import normalise_header
from tests.imports.conftest import CUSTOMER_HEADER, customers_csv, db_state

NAMES = ["Zoë Verhaeghe", "Boulangerie Dupré"]


def _names_file(encoding: str, bom: bool = False, delimiter: str = ";") -> bytes:
    data = customers_csv([["C1", NAMES[0], "person", "nl", "", "", "", ""],
                          ["C2", NAMES[1], "company", "fr", "", "", "", ""]],
                         encoding=encoding, delimiter=delimiter)
    return (b"\xef\xbb\xbf" + data) if bom else data


@pytest.mark.parametrize("encoding, bom", [("utf-8", True), ("utf-8", False), ("cp1252", False),
                                           ("latin-1", False), ("utf-16", False)])
def test_accented_names_are_imported_correctly_in_every_encoding(encoding, bom):
    report = services.run_import("customers", _names_file(encoding, bom))

    assert report.ok, report.errors
    assert report.created == 2
    names = sorted(db.session.scalars(db.select(Customer.name)))
    assert names == sorted(NAMES)


@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_the_separator_is_read_from_the_header(delimiter):
    report = services.run_import("customers", _names_file("utf-8", delimiter=delimiter))

    assert report.ok, report.errors
    assert sorted(db.session.scalars(db.select(Customer.number))) == ["C1", "C2"]


def test_excel_sep_line_and_quoted_values_with_separators_and_newlines():
    data = (b'sep=,\r\nnumber,name,address_line1,postal_code,city\r\n'
            b'C1,"Peeters, Jan","Kerkstraat 1\r\nbus 3",2000,Antwerpen\r\n'
            b'C2,;broken name,,,\r\n')
    report = services.preview("customers", data)

    assert report.ok, report.errors
    assert report.sample[0]["name"] == "Peeters, Jan"
    assert report.sample[1]["name"] == ";broken name"


def test_line_numbers_count_physical_lines_of_the_file():
    """A quoted value over two lines and a blank line: the error names the line an editor shows."""
    data = (b'number;name;address_line1;postal_code;city\r\n'  # line 1
            b'C1;Jan;"Kerkstraat 1\r\nbus 3";2000;Antwerpen\r\n'  # lines 2-3
            b'\r\n'  # line 4
            b'C2;;Molenweg 2;9000;Gent\r\n')  # line 5
    report = services.preview("customers", data)

    assert [(e.line, e.field) for e in report.errors] == [(5, "name")]


def test_dutch_and_french_headers_are_mapped_to_the_field_names():
    data = (b"Klantnummer;Naam;Taal;E-mail\r\nC1;Jan Claes;nl;jan@example.com\r\n"
)
    report = services.run_import("customers", data)

    assert report.ok, report.errors
    assert report.columns == {"number": "Klantnummer", "name": "Naam", "language": "Taal",
                              "email": "E-mail"}
    assert db.session.scalar(db.select(Customer.email)) == "jan@example.com"
    assert normalise_header(" Numéro de client ") == "numero_de_client"


def test_unknown_columns_are_ignored_and_reported():
    data = b"number;name;Remarque interne\r\nC1;Jan;VIP\r\n"
    report = services.run_import("customers", data)

    assert report.ok
    assert report.ignored_columns == ["Remarque interne"]


def test_two_columns_for_the_same_field_are_refused():
    data = b"number;name;klantnummer\r\nC1;Jan;C1\r\n"
    report = services.preview("customers", data)

    assert [(e.line, e.field) for e in report.errors] == [(1, "number")]
    assert "klantnummer" in report.errors[0].message


@pytest.mark.parametrize("data, expected", [
    (b"", "The file is empty."),
    (b"\r\n  \r\n", "The file is empty."),
    (b"\xef\xbb\xbf", "The file is empty."),
    (b"number;name\r\n", "The file has a header line but no data rows."),
    (b"number;name\r\n;;\r\n", "The file has a header line but no data rows."),
])
def test_empty_and_header_only_files_say_so_and_change_nothing(data, expected):
    before = db_state()
    report = services.run_import("customers", data)

    assert not report.committed
    assert [e.message for e in report.errors] == [expected]
    assert db_state() == before


def test_a_wrong_separator_names_the_missing_columns():
    data = b"number|name|email\r\nC1|Jan|jan@example.com\r\n"
    report = services.run_import("customers", data)

    assert len(report.errors) == 1
    error = report.errors[0]
    assert (error.line, error.field) == (1, "number")
    assert error.message.startswith('Missing columns: number, name. Found: "number|name|email".')
    assert "single column" in error.message


def test_missing_required_column_names_it_and_lists_what_was_found():
    data = b"number;customer_number;issue_date;total_amount\r\nF1;C1;01/01/2025;10\r\n"
    report = services.preview("invoices", data)

    assert [e.message for e in report.errors] == [(
        'Missing column: due_date. Found: "number", "customer_number", "issue_date", '
        '"total_amount".')]


def test_an_unquoted_separator_inside_a_value_is_reported_on_its_line():
    """Comma-separated file with a decimal comma: "125,50" becomes two values."""
    header = ",".join(CUSTOMER_HEADER[:2] + ["preferred_payment_day"])
    data = f"{header}\r\nC1,Jan,5\r\nC2,Piet,12,50\r\n".encode()
    before = db_state()
    report = services.run_import("customers", data)

    assert [(e.line, e.field) for e in report.errors] == [(3, None)]
    assert "4 values but the header has 3 columns" in report.errors[0].message
    assert db_state() == before


def test_a_value_the_csv_reader_cannot_take_is_reported_not_raised():
    data = b"number;name\r\nC1;Jan\r\nC2;" + b"x" * 200_000 + b"\r\n"
    report = services.run_import("customers", data)

    assert [e.line for e in report.errors] == [3]
    assert report.errors[0].message.startswith("The file cannot be read as CSV near line 3")
    assert db_state()["customers"] == 0


@pytest.mark.parametrize("data", [
    os.urandom(4096),
    b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    b"PK\x03\x04" + b"\x00" * 50,
    b"number;name\r\nC1;Jan\x07\r\n",
])
def test_binary_garbage_is_refused_with_a_message(data):
    before = db_state()
    report = services.run_import("customers", data)

    assert not report.committed
    assert [e.message for e in report.errors] == [(
        "This is not a CSV text file. Export the list from your ERP or spreadsheet as CSV "
        "(UTF-8 or Windows/Latin-1).")]
    assert db_state() == before


def test_oversized_files_are_refused(app, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 1024 * 1024)
    data = customers_csv() + b"C9;" + b"x" * (1024 * 1024) + b"\r\n"
    report = services.run_import("customers", data)

    assert [e.message for e in report.errors] == [
        "The file is too large (1.1 MB); the limit is 1 MB."]
    assert db_state()["customers"] == 0
