"""Importing customers and invoices from the ERP: all rows or none.

The admin screen, the `flask import-*` commands and the REST API all come here. Every row goes
through the domain services (clean_customer/upsert_customer, clean_invoice/upsert_invoice), the
one place for the rules; this module only reads the file, numbers the errors by line, and decides
between commit and rollback:

- ``preview`` runs the whole import inside the transaction and rolls it back, so it finds
  exactly the errors the real import would (unknown customers, a structured communication
  already used, a total below what is already paid) and changes nothing;
- ``run_import`` does the same and commits only when there is no error at all.

Speed: customers and existing invoices are preloaded in chunks and handed to upsert_invoice,
and balances are recomputed once per touched customer at the end, so a row costs about two
statements (its insert or update and its structured-communication number).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload

from app.core.validation import ValidationError
from app.customers.models import Customer
from app.customers.services import clean_customer, refresh_balance, upsert_customer
from app.extensions import db
from app.imports.columns import CUSTOMERS, INVOICES, KINDS, REQUIRED, header_map, normalise_header
from app.imports.csvfile import CsvFileError, CsvTable, read_csv
from app.invoices.models import Invoice
from app.invoices.services import clean_invoice, upsert_invoice

log = logging.getLogger(__name__)

SAMPLE_SIZE = 10
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
CHUNK = 500  # keys per IN (...) when preloading; well under every database's parameter limit

Progress = Callable[[int], None]


@dataclass(frozen=True)
class RowError:
    line: int | None  # line in the file (header = 1), or position in the JSON rows; None = file
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # field -> header in the file
    ignored_columns: list[str] = field(default_factory=list)
    committed: bool = False
    # line -> position in ``sample``; a valid row's sample shows the cleaned values (parsed
    # amounts and dates), so a person sees how "03/04/2025" was understood.
    sample_lines: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def show_cleaned(self, line: int, values: Mapping[str, Any], clean: Mapping[str, Any]
                     ) -> None:
        if line in self.sample_lines:
            self.sample[self.sample_lines[line]] = {name: clean.get(name) for name in values}

    def sample_rows(self) -> list[tuple[int, dict[str, Any], bool]]:
        """(line, values, has an error) for the preview table."""
        wrong = {error.line for error in self.errors}
        return [(line, self.sample[index], line in wrong)
                for line, index in sorted(self.sample_lines.items())]

    def add_validation_error(self, line: int, exc: ValidationError) -> None:
        for field_name, messages in exc.errors.items():
            for message in messages:
                self.errors.append(RowError(line, field_name, message))

    def summary(self) -> str:
        """One sentence for a person: what happened, or would happen."""
        if self.errors:
            return ngettext("%(num)s error; nothing was imported.",
                            "%(num)s errors; nothing was imported.", len(self.errors))
        if self.committed:
            return _("%(rows)s rows imported: %(created)s created, %(updated)s updated.",
                     rows=self.rows, created=self.created, updated=self.updated)
        return _("Dry run: %(rows)s rows are valid; %(created)s would be created and "
                 "%(updated)s updated. Nothing was changed.", rows=self.rows,
                 created=self.created, updated=self.updated)

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.summary(), "kind": self.kind, "rows": self.rows,
                "created": self.created, "updated": self.updated, "imported": self.committed,
                "errors": [error.as_dict() for error in self.errors],
                "ignored_columns": self.ignored_columns}


def max_bytes() -> int:
    config = current_app.config
    return int(config.get("IMPORT_MAX_BYTES") or config.get("MAX_CONTENT_LENGTH")
               or DEFAULT_MAX_BYTES)


def load(kind: str, data: bytes | list) -> CsvTable:
    """The rows of a CSV file (bytes) or of JSON records (a list of objects)."""
    _check_kind(kind)
    if isinstance(data, (bytes, bytearray)):
        return read_csv(bytes(data), header_map(kind), REQUIRED[kind], max_bytes())
    return _table_from_records(kind, data)


def preview(kind: str, data: bytes | list, progress: Progress | None = None) -> ImportReport:
    """Validate everything as the import would, then roll back: nothing changes."""
    return _load_and_process(kind, data, commit=False, progress=progress)


def run_import(kind: str, data: bytes | list, progress: Progress | None = None) -> ImportReport:
    """Import every row in one transaction, or nothing when any row has an error."""
    return _load_and_process(kind, data, commit=True, progress=progress)


def _load_and_process(kind: str, data: bytes | list, *, commit: bool,
                      progress: Progress | None) -> ImportReport:
    try:
        table = load(kind, data)
    except CsvFileError as exc:
        return ImportReport(kind=kind, errors=[RowError(exc.line, exc.field, exc.message)])
    return process(kind, table, commit=commit, progress=progress)


def process(kind: str, table: CsvTable, *, commit: bool,
            progress: Progress | None = None) -> ImportReport:
    """Run the rows through the domain services; commit only when ``commit`` and no error."""
    _check_kind(kind)
    report = ImportReport(kind=kind, rows=len(table.rows), columns=dict(table.columns),
                          ignored_columns=list(table.ignored_columns),
                          sample=[dict(values) for _line, values in table.rows[:SAMPLE_SIZE]],
                          sample_lines={line: index for index, (line, _values)
                                        in enumerate(table.rows[:SAMPLE_SIZE])})
    report.errors.extend(RowError(*problem) for problem in table.bad_lines)
    # A line whose shape is wrong is not checked further: its values are in the wrong columns.
    misshapen = {problem[0] for problem in table.bad_lines}
    rows = [(line, values) for line, values in table.rows if line not in misshapen]
    progress = progress or (lambda n: None)
    progress(len(table.rows) - len(rows))
    import_rows = _import_customers if kind == CUSTOMERS else _import_invoices
    try:
        import_rows(rows, report, progress)
        if report.ok and commit:
            db.session.commit()
            report.committed = True
    except _DatabaseRefused as exc:
        report.errors.append(RowError(exc.line, None, _(
            "The database refused this row, so nothing was imported. Check that no value that "
            "must be unique (such as a structured communication) is used twice.")))
    except SQLAlchemyError:
        log.exception("import of %s failed at commit", kind)
        report.errors.append(RowError(None, None, _(
            "The import could not be saved (another change to the same records happened at "
            "the same time?). Nothing was imported; please try again.")))
    finally:
        if not report.committed:
            db.session.rollback()
    report.errors.sort(key=lambda error: (error.line or 0))
    return report


class _DatabaseRefused(Exception):
    def __init__(self, line: int):
        self.line = line


def _import_customers(rows, report: ImportReport, progress: Progress) -> None:
    # Loading existing customers with their contacts and addresses up front spares the two
    # lazy loads upsert_customer would otherwise do for every updated customer.
    existing = _preload(Customer, Customer.number, (_key(v, "number") for _l, v in rows),
                        selectinload(Customer.contacts), selectinload(Customer.addresses))
    seen: dict[str, int] = {}
    for line, values in rows:
        number = _key(values, "number")
        if number in seen:
            report.errors.append(RowError(line, "number", _(
                "Customer number %(number)s is already on line %(line)s of this file.",
                number=number, line=seen[number])))
        else:
            if number:
                seen[number] = line
            _run_row(report, line, values, clean_customer, upsert_customer)
        progress(1)
    del existing  # kept alive until here so the session's identity map holds them


def _import_invoices(rows, report: ImportReport, progress: Progress) -> None:
    # One query per 500 customers and per 500 invoices instead of several per row; balances
    # are recomputed once per touched customer at the end instead of after every row.
    customers = _preload(Customer, Customer.number,
                         (_key(v, "customer_number") for _l, v in rows))
    invoices = _preload(Invoice, Invoice.number, (_key(v, "number") for _l, v in rows),
                        selectinload(Invoice.customer))
    # An updated invoice may move to another customer: both balances change.
    touched: dict[int, Customer] = {id(inv.customer): inv.customer for inv in invoices.values()}
    seen: dict[str, int] = {}
    for line, values in rows:
        number = _key(values, "number")
        if number in seen:
            report.errors.append(RowError(line, "number", _(
                "Invoice number %(number)s is already on line %(line)s of this file.",
                number=number, line=seen[number])))
        else:
            if number:
                seen[number] = line
            record = _run_row(report, line, values, clean_invoice, upsert_invoice,
                              customers=customers, invoices=invoices, refresh=False)
            if record is not None:
                touched[id(record.customer)] = record.customer
        progress(1)
    if report.ok:
        for customer in touched.values():
            refresh_balance(customer)


def _run_row(report: ImportReport, line: int, values: Mapping[str, Any], clean: Callable,
             upsert: Callable, **options: Any) -> Any:
    """Clean and upsert one row; returns the record, or None when the row has errors."""
    try:
        cleaned = clean(values)
        report.show_cleaned(line, values, cleaned)
        record, created = upsert(cleaned, **options)
    except ValidationError as exc:
        report.add_validation_error(line, exc)
        return None
    except SQLAlchemyError as exc:
        log.warning("import row %s refused by the database: %s", line, exc)
        raise _DatabaseRefused(line) from exc
    if created:
        report.created += 1
    else:
        report.updated += 1
    return record


def _preload(model, column, keys: Iterable[str], *options) -> dict[str, Any]:
    wanted = sorted({key for key in keys if key})
    found: dict[str, Any] = {}
    for start in range(0, len(wanted), CHUNK):
        statement = select(model).where(column.in_(wanted[start:start + CHUNK]))
        for record in db.session.scalars(statement.options(*options)):
            found[getattr(record, column.key)] = record
    return found


def _key(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name)
    return "" if value is None else str(value).strip()


def _table_from_records(kind: str, records: list) -> CsvTable:
    """JSON rows from the API: keys go through the same alias table as CSV headers."""
    names = header_map(kind)
    table = CsvTable(columns={}, rows=[])
    ignored: dict[str, None] = {}
    for position, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise CsvFileError(_("Row %(line)s is not an object.", line=position), line=position)
        values: dict[str, Any] = {}
        for key, value in record.items():
            field_name = names.get(normalise_header(str(key)))
            if field_name is None:
                ignored[str(key)] = None
            elif field_name in values:
                table.bad_lines.append((position, field_name, _(
                    "Two keys of this row give %(field)s; keep only one.", field=field_name)))
            elif isinstance(value, (dict, list)):
                table.bad_lines.append((position, field_name, _(
                    "Must be a single value, not a list or an object.")))
            else:
                values[field_name] = value
                table.columns.setdefault(field_name, str(key))
        table.rows.append((position, values))
    if not table.rows:
        raise CsvFileError(_("There are no rows to import."))
    table.ignored_columns = list(ignored)
    return table


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {KINDS}")


__all__ = ["CUSTOMERS", "INVOICES", "KINDS", "ImportReport", "RowError", "load", "preview",
           "process", "run_import"]
