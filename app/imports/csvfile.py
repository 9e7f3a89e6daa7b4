"""Reading the CSV files ERPs and spreadsheets really write.

- encoding: UTF-8 with or without BOM, else Windows-1252/Latin-1 (Belgian Excel's "CSV"), and
  UTF-16 with a BOM (Excel's "Unicode text");
- delimiter: ``;`` (Excel with a Belgian/French/Dutch locale), ``,`` or tab, read from the header
  line, or from Excel's ``sep=;`` first line;
- headers: mapped to field names through the alias table of app.imports.columns.

Anything that is not such a file ends in a CsvFileError with a message for a person, never in a
traceback. Line numbers are physical lines of the file (the header is line 1), as an editor
shows them, so a person can find the row.
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask_babel import gettext as _

DELIMITERS = (";", ",", "\t")
_SEP_LINE = re.compile(r"^sep=(.)\s*$", re.IGNORECASE)
# Characters no text export contains; finding one means we were given a binary file.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class CsvFileError(ValueError):
    """The file as a whole cannot be read; ``line``/``field`` say where when that is known."""

    def __init__(self, message: str, line: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message, self.line, self.field = message, line, field


@dataclass
class CsvTable:
    columns: dict[str, str]  # field name -> the header as written in the file, in file order
    rows: list[tuple[int, dict[str, str]]]  # (line number, {field: value})
    ignored_columns: list[str] = field(default_factory=list)
    # Problems found while reading, before any rule is applied: (line, field or None, message).
    bad_lines: list[tuple[int, str | None, str]] = field(default_factory=list)
    delimiter: str = ";"
    encoding: str = "utf-8"


def read_csv(data: bytes, header_map: Mapping[str, str], required: tuple[str, ...],
             max_bytes: int | None = None) -> CsvTable:
    """Parse ``data``; header_map maps normalised headers to field names."""
    if max_bytes is not None:
        check_size(len(data), max_bytes)
    text, encoding = decode(data)
    # Split exactly as the csv module counts lines (\r\n, \r or \n), so numbers agree.
    lines = io.StringIO(text, newline="").readlines()
    first = _first_content_line(lines)
    if first is None:
        raise CsvFileError(_("The file is empty."))
    delimiter, start = _delimiter(lines, first)
    reader = csv.reader(io.StringIO("".join(lines[start:]), newline=""), delimiter=delimiter)
    try:
        records = _numbered_records(reader, first_line=start + 1)
        header_line, header = next(records, (None, None))
        if header is None:
            raise CsvFileError(_("The file is empty."))
        columns, positions, ignored = _map_header(header, header_map, header_line)
        missing = [name for name in required if name not in columns]
        if missing:
            raise CsvFileError(_missing_message(missing, header, delimiter), line=header_line,
                               field=missing[0])
        table = CsvTable(columns=columns, rows=[], ignored_columns=ignored,
                         delimiter=delimiter, encoding=encoding)
        for line, values in records:
            if not any(value.strip() for value in values):
                continue  # spreadsheets end files with empty ";;;;" lines
            extra = [value for value in values[len(header):] if value.strip()]
            if extra:
                table.bad_lines.append((line, None, _(
                    "This line has %(found)s values but the header has %(expected)s columns "
                    "(a value containing the separator \"%(sep)s\" must be quoted).",
                    found=len(values), expected=len(header), sep=_delimiter_name(delimiter))))
            table.rows.append((line, {name: (values[index] if index < len(values) else "")
                                      for name, index in positions.items()}))
    except csv.Error as exc:
        raise CsvFileError(_("The file cannot be read as CSV near line %(line)s: %(error)s.",
                             line=reader.line_num + start, error=str(exc)),
                           line=reader.line_num + start) from exc
    if not table.rows:
        raise CsvFileError(_("The file has a header line but no data rows."), line=header_line)
    return table


def check_size(size: int, max_bytes: int) -> None:
    """Refuse a file over the limit (callers holding a path check before reading it)."""
    if size > max_bytes:
        raise CsvFileError(_("The file is too large (%(size)s MB); the limit is %(limit)s MB.",
                             size=_megabytes(size, up=True), limit=_megabytes(max_bytes)))


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding name); UTF-8 first because a valid UTF-8 file is almost never cp1252."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        candidates = ("utf-16",)
    else:
        candidates = ("utf-8-sig", "cp1252")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _CONTROL.search(text):
            break  # binary content: no other encoding will make it a CSV file
        return text, encoding
    raise CsvFileError(_("This is not a CSV text file. Export the list from your ERP or "
                         "spreadsheet as CSV (UTF-8 or Windows/Latin-1)."))


def _first_content_line(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        if line.strip():
            return index
    return None


def _delimiter(lines: list[str], first: int) -> tuple[str, int]:
    """(delimiter, index of the header line); counts separators outside quotes in the header."""
    sep = _SEP_LINE.match(lines[first].strip())
    if sep and sep.group(1) in DELIMITERS:
        following = _first_content_line(lines[first + 1:])
        return sep.group(1), first + 1 + (following or 0)
    unquoted = re.sub(r'"[^"]*"', "", lines[first])
    counts = {delimiter: unquoted.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties keep the order of DELIMITERS
    return best, first


def _numbered_records(reader, first_line: int):
    """(line where the record starts, values); a quoted value may span several lines."""
    previous_end = first_line - 1
    for values in reader:
        yield previous_end + 1, values
        previous_end = reader.line_num + first_line - 1


def _map_header(header: list[str], header_map: Mapping[str, str], line: int):
    from app.imports.columns import normalise_header

    columns: dict[str, str] = {}
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, raw in enumerate(header):
        name = raw.strip().lstrip("\ufeff")
        if not name:
            continue
        field_name = header_map.get(normalise_header(name))
        if field_name is None:
            ignored.append(name)
            continue
        if field_name in columns:
            raise CsvFileError(_("The columns \"%(first)s\" and \"%(second)s\" both give "
                                 "%(field)s; keep only one.", first=columns[field_name],
                                 second=name, field=field_name), line=line, field=field_name)
        columns[field_name] = name
        positions[field_name] = index
    return columns, positions, ignored


def _missing_message(missing: list[str], header: list[str], delimiter: str) -> str:
    found = ", ".join(f'"{name.strip()}"' for name in header if name.strip()) or "—"
    if len(missing) == 1:
        message = _("Missing column: %(columns)s. Found: %(found)s.", columns=missing[0],
                    found=_shorten(found))
    else:
        message = _("Missing columns: %(columns)s. Found: %(found)s.",
                    columns=", ".join(missing), found=_shorten(found))
    if len([name for name in header if name.strip()]) <= 1:
        message += " " + _("The header has a single column: the values must be separated by "
                           "a semicolon, a comma or a tab.")
    return message


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _delimiter_name(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else delimiter


def _megabytes(size: int, up: bool = False) -> str:
    """Megabytes with one decimal; a file's size rounds up, so 20 MB + 1 byte is not "20"."""
    tenths = size * 10 / (1024 * 1024)
    tenths = math.ceil(tenths) if up else math.floor(tenths)
    return f"{tenths / 10:.1f}".removesuffix(".0")
