"""Bank statements and their lines: money in as the bank reports it, before and after matching.

A statement line that pays something becomes a Payment (app.payments.models) with
``statement_line_id`` set; the import and the matching rules are in this package.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, Numeric, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedString
from app.core.models import Money, UTCDateTime, utcnow
from app.customers.models import Customer
from app.payments.models import Payment, keep_iban_hash

STATEMENT_LINE_STATUSES = {"new": _l("New"), "matched": _l("Matched"),
                           "suggested": _l("Suggested"), "unmatched": _l("Unmatched"),
                           "ignored": _l("Ignored"), "duplicate": _l("Duplicate")}
# What a statement line is: money in to match, a return/reversal of money we had received, or
# money out (our own payments: nothing to match).
STATEMENT_LINE_KINDS = {"payment": _l("Money in"), "return": _l("Return or reversal"),
                        "debit": _l("Money out")}


class BankStatement(Model):
    __tablename__ = "bank_statement"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    format: Mapped[str] = mapped_column(String(20))  # camt.053.001.08, coda2, ...
    account_iban: Mapped[str | None] = mapped_column(String(34))
    statement_ref: Mapped[str | None] = mapped_column(String(100))
    from_date: Mapped[date | None] = mapped_column(Date)
    to_date: Mapped[date | None] = mapped_column(Date)
    opening_balance: Mapped[Decimal | None] = mapped_column(Money)
    closing_balance: Mapped[Decimal | None] = mapped_column(Money)
    file_name: Mapped[str | None] = mapped_column(String(200))
    file_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    currency: Mapped[str | None] = mapped_column(String(3))
    sequence_number: Mapped[str | None] = mapped_column(String(20))
    # Entries stored, entries already imported from another file, entries not booked (pending).
    line_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What the statement is, whatever the file's bytes (line endings, a trailing newline): the
    # account, currency, statement id/sequence and dates (app.payments.incoming.identity).
    statement_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The bank's promise, checked: "ok" (opening + entries = closing), "missing" (the file gives
    # no balances: imported with a warning), "mismatch" (imported anyway by a person: why below).
    balance_status: Mapped[str | None] = mapped_column(String(12))
    balance_difference: Mapped[Decimal | None] = mapped_column(Money)
    imported_anyway_reason: Mapped[str | None] = mapped_column(Text)
    # False: the account is not one of the company's (settings): its lines wait for a person.
    account_known: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    lines: Mapped[list[StatementLine]] = relationship(back_populates="statement")

    def __repr__(self) -> str:
        return f"{self.account_iban} {self.statement_ref}"


class StatementLine(Model):
    __tablename__ = "statement_line"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("bank_statement.id"), index=True)
    booking_date: Mapped[date] = mapped_column(Date)
    value_date: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)  # positive = credit, negative = debit
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    counterparty_name: Mapped[str | None] = mapped_column(String(200))
    # Encrypted at rest; found through iban_hash, as Payment.counterparty_iban.
    counterparty_iban: Mapped[str | None] = mapped_column(EncryptedString())
    iban_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    counterparty_bic: Mapped[str | None] = mapped_column(String(11))
    structured_reference: Mapped[str | None] = mapped_column(String(35))
    free_text: Mapped[str | None] = mapped_column(Text)
    bank_reference: Mapped[str | None] = mapped_column(String(100))
    end_to_end_id: Mapped[str | None] = mapped_column(String(100), index=True)
    mandate_reference: Mapped[str | None] = mapped_column(String(35), index=True)
    is_reversal: Mapped[bool] = mapped_column(Boolean, default=False)
    return_reason: Mapped[str | None] = mapped_column(String(10))
    # (account, bank/entry reference, booking date, amount): files overlap, entries do not repeat.
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    match_rule: Mapped[str | None] = mapped_column(String(40))
    match_confidence: Mapped[Decimal | None] = mapped_column(Numeric(4, 3))
    kind: Mapped[str] = mapped_column(String(10), default="payment", server_default="payment")
    transaction_code: Mapped[str | None] = mapped_column(String(40))
    # Who paid: set when matched, or the customer a suggestion points to.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    # The best proposal of the matching rules, accepted in one click from the queue:
    # {"customer_id", "invoice_ids", "installment_ids", "rule", "confidence"}.
    suggestion: Mapped[dict | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)  # why it was not booked, what was returned
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    statement: Mapped[BankStatement] = relationship(back_populates="lines")
    customer: Mapped[Customer | None] = relationship()
    payment: Mapped[Payment | None] = relationship(
        foreign_keys="Payment.statement_line_id", back_populates="statement_line",
        uselist=False)

    def __repr__(self) -> str:
        return f"{self.booking_date} {self.amount} {self.counterparty_name or ''}".strip()


# The lookup hash follows the payer's IBAN here too (the same rule as Payment's).
event.listen(StatementLine.counterparty_iban, "set", keep_iban_hash)
