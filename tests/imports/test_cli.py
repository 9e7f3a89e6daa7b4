"""`flask import-customers FILE` / `flask import-invoices FILE`."""
from __future__ import annotations

import pytest

from tests.imports.conftest import customers_csv, db_state, invoice_row, invoices_csv


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_import_customers_then_invoices(runner, tmp_path):
    result = runner.invoke(args=["import-customers", _write(tmp_path, "c.csv", customers_csv())])
    assert result.exit_code == 0, result.output
    assert "2 rows imported: 2 created, 0 updated." in result.stdout

    result = runner.invoke(args=["import-invoices", _write(tmp_path, "i.csv", invoices_csv())])
    assert result.exit_code == 0, result.output
    assert "3 rows imported: 3 created, 0 updated." in result.stdout
    assert (db_state()["customers"], db_state()["invoices"]) == (2, 3)

    result = runner.invoke(args=["import-invoices", _write(tmp_path, "i.csv", invoices_csv())])
    assert "3 rows imported: 0 created, 3 updated." in result.stdout


def test_errors_are_listed_by_line_and_the_exit_code_is_1(runner, tmp_path, known_customers):
    data = invoices_csv([invoice_row("F-1"), invoice_row("F-2", total="twelve"),
                         invoice_row("F-3", customer="C999")])
    before = db_state()

    result = runner.invoke(args=["import-invoices", _write(tmp_path, "i.csv", data)])

    assert result.exit_code == 1
    assert "line 3, total_amount: Not an amount: twelve." in result.stderr
    assert "line 4, customer_number: Unknown customer number: C999." in result.stderr
    assert "2 errors; nothing was imported." in result.stderr
    assert "imported:" not in result.stdout
    assert db_state() == before


def test_a_file_level_problem_exits_1_with_the_message(runner, tmp_path):
    result = runner.invoke(args=["import-customers", _write(tmp_path, "empty.csv", b"")])
    assert result.exit_code == 1
    assert "file: The file is empty." in result.stderr

    result = runner.invoke(args=["import-customers", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2  # click: the file does not exist


def test_a_file_over_the_limit_is_refused_before_it_is_read(app, runner, tmp_path,
                                                            monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 1024 * 1024)
    path = _write(tmp_path, "big.csv", customers_csv() + b"x" * (2 * 1024 * 1024))
    result = runner.invoke(args=["import-customers", path])
    assert result.exit_code == 1
    assert "file: The file is too large (2.1 MB); the limit is 1 MB." in result.stderr


def test_dry_run_checks_and_changes_nothing(runner, tmp_path):
    result = runner.invoke(args=["import-customers", "--dry-run",
                                 _write(tmp_path, "c.csv", customers_csv())])
    assert result.exit_code == 0, result.output
    assert "Dry run: 2 rows are valid; 2 would be created and 0 updated." in result.stdout
    assert db_state()["customers"] == 0


def test_a_progress_bar_is_shown(runner, tmp_path):
    result = runner.invoke(args=["import-customers", _write(tmp_path, "c.csv", customers_csv())])
    assert "Importing" in result.stderr
