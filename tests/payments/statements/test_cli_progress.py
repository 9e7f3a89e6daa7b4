"""`flask import-statement`: the progress bar is drawn on stderr (the report stays alone on
stdout, for scripts), once the number of entries is known."""
from __future__ import annotations

import click._termui_impl
import pytest

from app.payments.incoming.cli import import_statement_command
from tests.payments.statements.builders import Entry, Tx, camt053

ENTRIES = 120


@pytest.fixture
def big_statement(tmp_path):
    path = tmp_path / "big.xml"
    path.write_bytes(camt053([Entry(f"{n}.00", ref=f"B{n}", txs=[Tx(ustrd=[f"payment {n}"],
                                                                     iban=None)])
                              for n in range(1, ENTRIES + 1)]))
    return path


def test_the_bar_is_drawn_on_stderr(app, big_statement, monkeypatch):
    # CliRunner's streams are not terminals, and click draws a bar only on a terminal.
    monkeypatch.setattr(click._termui_impl, "isatty", lambda stream: True)
    result = app.test_cli_runner().invoke(import_statement_command, [str(big_statement)])
    assert result.exit_code == 0, result.output
    assert "[" in result.stderr and "#" in result.stderr
    assert f"0/{ENTRIES}" in result.stderr and f"{ENTRIES}/{ENTRIES}" in result.stderr
    assert "\r" in result.stderr  # redrawn in place
    assert "#" not in result.stdout and f"/{ENTRIES}" not in result.stdout
    assert f"{ENTRIES} new lines imported" in result.stdout


def test_without_a_terminal_only_the_label_is_written_once(app, big_statement):
    result = app.test_cli_runner().invoke(import_statement_command, [str(big_statement)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "#" not in lines[0]
    assert lines[0] not in result.stdout


def test_a_refused_file_draws_no_bar(app, tmp_path, monkeypatch):
    monkeypatch.setattr(click._termui_impl, "isatty", lambda stream: True)
    path = tmp_path / "bad.xml"
    path.write_bytes(b"<not-a-statement/>")
    result = app.test_cli_runner().invoke(import_statement_command, [str(path)])
    assert result.exit_code == 1
    assert "#" not in result.stderr and result.stderr.strip()  # only the reason
    assert result.stdout == ""
