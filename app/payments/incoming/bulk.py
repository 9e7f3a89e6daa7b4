"""Writing a statement import's rows set-wise: the fast path of the same rules.

The statement import books thousands of payments per chunk. Doing that through ORM objects costs
several milliseconds per payment (unit of work, one UPDATE per invoice, RETURNING for every id),
so the import uses plain row objects instead and writes them in a few statements per chunk:
PostgreSQL COPY for new rows, one UPDATE ... FROM unnest(arrays) for the invoices; on SQLite
(small embedded installs, the tests) plain executemany.

The rules do not change: ``book_payment``/``allocate`` (app.payments.services) run unchanged on
these row objects (they have the attributes the rules read and write: an ``InvoiceRow`` goes
through the same ``set_open_amount``); only where the result is stored differs, through a
*ledger*: ``OrmLedger`` (services) adds ORM objects to the session, ``BulkLedger`` here collects
rows and writes them at ``write()``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from sqlalchemy import Table, bindparam, select, text, update

from app.core.crypto import EncryptedString, encrypt, iban_hash
from app.core.models import utcnow
from app.extensions import db
from app.invoices.models import Invoice
from app.payments.incoming.models import StatementLine
from app.payments.models import Allocation, Payment


@dataclass(slots=True, eq=False)
class InvoiceRow:
    """The columns of an invoice the matching and booking rules read and change."""

    id: int
    customer_id: int
    number: str
    due_date: date
    currency: str
    total_amount: Decimal
    open_amount: Decimal
    structured_reference: str
    rf_reference: str
    status: str
    paid_on: date | None
    original: tuple = ()  # (open_amount, status, paid_on) as loaded: written only if changed

    COLUMNS = ("id", "customer_id", "number", "due_date", "currency", "total_amount",
               "open_amount", "structured_reference", "rf_reference", "status", "paid_on")

    @classmethod
    def from_row(cls, row) -> InvoiceRow:
        invoice = cls(*row)
        invoice.original = (invoice.open_amount, invoice.status, invoice.paid_on)
        return invoice

    @property
    def changed(self) -> bool:
        return (self.open_amount, self.status, self.paid_on) != self.original


def invoice_columns():
    table = Invoice.__table__
    return [table.c[name] for name in InvoiceRow.COLUMNS]


@dataclass(slots=True, eq=False)
class PaymentRow:
    id: int
    amount: Decimal
    unallocated_amount: Decimal
    received_on: date
    method: str = "transfer"
    status: str = "unmatched"
    currency: str = "EUR"
    customer_id: int | None = None
    communication: str | None = None
    counterparty_name: str | None = None
    counterparty_iban: str | None = None  # plain text here; encrypted when written
    iban_hash: str | None = None
    external_id: str | None = None
    statement_line_id: int | None = None
    notified_at: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(slots=True, eq=False)
class LineRow:
    """A statement line before it is written (all its columns)."""

    id: int
    statement_id: int
    booking_date: date
    amount: Decimal
    dedup_key: str
    value_date: date | None = None
    currency: str = "EUR"
    counterparty_name: str | None = None
    counterparty_iban: str | None = None  # plain text here; encrypted when written
    iban_hash: str | None = None  # its keyed hash (the import computes it once per IBAN)
    counterparty_bic: str | None = None
    structured_reference: str | None = None
    free_text: str | None = None
    bank_reference: str | None = None
    end_to_end_id: str | None = None
    mandate_reference: str | None = None
    is_reversal: bool = False
    return_reason: str | None = None
    status: str = "new"
    match_rule: str | None = None
    match_confidence: Decimal | None = None
    kind: str = "payment"
    transaction_code: str | None = None
    customer_id: int | None = None
    suggestion: dict | None = None
    note: str | None = None


def _row_columns(cls) -> list[str]:
    return [f.name for f in fields(cls) if f.name not in ("original",)]


LINE_COLUMNS = _row_columns(LineRow)
PAYMENT_COLUMNS = _row_columns(PaymentRow)
ALLOCATION_COLUMNS = ["payment_id", "invoice_id", "amount", "rule", "confidence", "created_at",
                      "created_by_id"]


class BulkLedger:
    """Collects a chunk's lines, payments and allocations; ``write()`` stores them."""

    def __init__(self) -> None:
        self.postgres = db.engine.dialect.name == "postgresql"
        self.lines: list[LineRow] = []
        self.payments: list[PaymentRow] = []
        self.allocations: list[tuple] = []
        self.invoices: dict[int, InvoiceRow] = {}
        self._free: dict[str, list[int]] = {}

    # -- ids ---------------------------------------------------------------------------------
    def reserve(self, table: str, count: int) -> None:
        """Take ``count`` ids for ``table`` now (lines and payments are referred to by id)."""
        if count <= 0:
            self._free[table] = []
            return
        if self.postgres:
            ids = db.session.scalars(text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                "FROM generate_series(1, :count)"), {"table": table, "count": count}).all()
        else:
            # SQLite: this transaction already wrote (the statement row), so it holds the
            # database's write lock: nobody else can take these ids meanwhile.
            last = db.session.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table}"))
            ids = list(range(last + 1, last + count + 1))
        self._free[table] = list(reversed(ids))

    def next_id(self, table: str) -> int:
        return self._free[table].pop()

    # -- what the rules call -------------------------------------------------------------------
    def new_payment(self, **values: Any) -> PaymentRow:
        line = values.pop("statement_line", None)
        if line is not None:
            values["statement_line_id"] = line.id
        if "iban_hash" not in values:
            # The payer's IBAN is the line's: its hash too (no second HMAC per entry).
            iban = values.get("counterparty_iban")
            values["iban_hash"] = (line.iban_hash if line is not None
                                   and iban == line.counterparty_iban else iban_hash(iban))
        payment = PaymentRow(id=self.next_id("payment"), **values)
        self.payments.append(payment)
        return payment

    def add_allocation(self, payment: PaymentRow, invoice: InvoiceRow, amount: Decimal,
                       rule: str, confidence: Decimal | None, user_id: int | None) -> None:
        self.allocations.append((payment.id, invoice.id, amount, rule, confidence, utcnow(),
                                 user_id))
        self.invoices[invoice.id] = invoice

    def add_installment_payment(self, *args: Any) -> None:
        raise NotImplementedError("plan instalments are booked through the ORM path")

    # -- storing -------------------------------------------------------------------------------
    def write(self) -> None:
        insert_rows(StatementLine.__table__, LINE_COLUMNS,
                    [_values(line, LINE_COLUMNS) for line in self.lines])
        insert_rows(Payment.__table__, PAYMENT_COLUMNS,
                    [_values(payment, PAYMENT_COLUMNS) for payment in self.payments])
        insert_rows(Allocation.__table__, ALLOCATION_COLUMNS, self.allocations)
        update_invoices([i for i in self.invoices.values() if i.changed])
        self.lines, self.payments, self.allocations, self.invoices = [], [], [], {}


_GETTERS: dict[tuple[str, ...], attrgetter] = {}


def _values(row, columns: list[str]) -> tuple:
    getter = _GETTERS.get(tuple(columns))
    if getter is None:
        getter = _GETTERS[tuple(columns)] = attrgetter(*columns)
    return getter(row)


def insert_rows(table: Table, columns: list[str], rows: list[tuple]) -> None:
    """Rows (plain values, as the ORM would hold them) into ``table``. COPY bypasses the
    column types, so what they would do is done here: JSON dumped, EncryptedString encrypted
    (the executemany path of SQLite goes through the types themselves)."""
    if not rows:
        return
    if db.engine.dialect.name == "postgresql":
        json_columns = [i for i, name in enumerate(columns)
                        if table.c[name].type.__class__.__name__ == "JSON"]
        encrypted = [i for i, name in enumerate(columns)
                     if isinstance(table.c[name].type, EncryptedString)]
        raw = db.session.connection().connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(
                f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                if json_columns or encrypted:
                    row = list(row)
                    for i in json_columns:
                        row[i] = None if row[i] is None else json.dumps(row[i])
                    for i in encrypted:
                        row[i] = None if row[i] is None else encrypt(row[i])
                copy.write_row(row)
        return
    db.session.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])


class InvoiceChanged(Exception):
    """An invoice changed (someone allocated to it) between the import's read and its write."""


def update_invoices(invoices: list[InvoiceRow]) -> None:
    """Open amount, status and paid-on date of many invoices in one statement.

    Optimistic: each row is written only if its open amount is still what the import read; if
    anything changed meanwhile (a person matched a payment to one of these invoices), the
    import stops (InvoiceChanged) and is rolled back, rather than overwrite that change.
    """
    if not invoices:
        return
    now = utcnow()
    # In id order: the heap is in id order, so neighbouring rows share pages.
    invoices = sorted(invoices, key=attrgetter("id"))
    if db.engine.dialect.name == "postgresql":
        result = db.session.execute(text(
            "UPDATE invoice SET open_amount = v.open_amount, status = v.status, "
            "paid_on = v.paid_on, updated_at = :now FROM unnest(CAST(:ids AS integer[]), "
            "CAST(:amounts AS numeric[]), CAST(:statuses AS varchar[]), "
            "CAST(:paid AS date[]), CAST(:before AS numeric[])) "
            "AS v(id, open_amount, status, paid_on, before) "
            "WHERE invoice.id = v.id AND invoice.open_amount = v.before"),
            {"now": now, "ids": [i.id for i in invoices],
             "amounts": [i.open_amount for i in invoices],
             "statuses": [i.status for i in invoices], "paid": [i.paid_on for i in invoices],
             "before": [i.original[0] for i in invoices]})
    else:
        table = Invoice.__table__
        result = db.session.execute(
            update(table).where(table.c.id == bindparam("b_id"),
                                table.c.open_amount == bindparam("b_before")).values(
                open_amount=bindparam("b_open"), status=bindparam("b_status"),
                paid_on=bindparam("b_paid"), updated_at=bindparam("b_now")),
            [{"b_id": i.id, "b_open": i.open_amount, "b_status": i.status,
              "b_paid": i.paid_on, "b_now": now, "b_before": i.original[0]}
             for i in invoices])
    if result.rowcount != len(invoices):
        raise InvoiceChanged(f"{len(invoices) - result.rowcount} invoice(s) changed meanwhile")
    for invoice in invoices:
        invoice.original = (invoice.open_amount, invoice.status, invoice.paid_on)


def load_invoice_rows(where, lock: bool) -> list[InvoiceRow]:
    query = select(*invoice_columns()).where(where)
    if lock:
        query = query.with_for_update()
    return [InvoiceRow.from_row(row) for row in db.session.execute(query)]


