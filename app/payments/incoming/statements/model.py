"""What every statement parser returns: one shape for camt.053 and CODA, amounts as Decimal."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _

# End-to-end ids that say "none": SEPA requires the field, so payers without one send these.
NOT_PROVIDED = frozenset({"", "NOTPROVIDED", "NOT PROVIDED"})


class StatementFileError(ValueError):
    """A file that cannot be imported: the message says why, for the person who sent it.

    ``code`` is stable for programs (API clients, tests): "too_large", "unsafe_xml",
    "malformed", "unsupported_format", "unsupported_version", "empty".
    """

    def __init__(self, message: str, code: str = "malformed", format_found: str | None = None):
        super().__init__(message)
        self.message, self.code, self.format_found = message, code, format_found


def in_statement(error: StatementFileError, number: int, total: int,
                 statement_id: str | None) -> StatementFileError:
    """The same refusal, saying which statement of the file it is about."""
    return StatementFileError(_(
        "Statement %(number)s of %(total)s (%(id)s): %(problem)s", number=number, total=total,
        id=statement_id or "?", problem=error.message), error.code, error.format_found)


@dataclass(slots=True)
class ParsedEntry:
    """One booked movement (or one transaction of a batch) as the bank reported it."""

    amount: Decimal  # positive = money in (credit), negative = money out (debit)
    booking_date: date
    currency: str = "EUR"
    value_date: date | None = None
    status: str = "BOOK"  # BOOK, PDNG, INFO: only booked entries become statement lines
    is_reversal: bool = False
    return_reason: str | None = None
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    counterparty_bic: str | None = None
    # The structured reference as found: "ogm" (12 digits), "rf" (RF compact) or "other".
    structured_reference: str | None = None
    reference_kind: str | None = None
    free_text: str | None = None
    bank_reference: str | None = None  # AcctSvcrRef / CODA bank reference
    entry_reference: str | None = None  # NtryRef
    end_to_end_id: str | None = None
    mandate_reference: str | None = None
    transaction_code: str | None = None
    # Position of the transaction inside a batch entry (0 when the entry was not split).
    batch_position: int = 0
    # Position of the entry in the statement, for messages ("entry 12").
    position: int = 0

    @property
    def is_credit(self) -> bool:
        return self.amount > 0


@dataclass(slots=True)
class ParsedStatement:
    format: str  # "camt.053.001.08", "coda2"
    account_iban: str | None = None
    currency: str | None = None
    statement_ref: str | None = None
    sequence_number: str | None = None
    from_date: date | None = None
    to_date: date | None = None
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    entries: list[ParsedEntry] = field(default_factory=list)
    # Entries left out because they are not booked (PDNG, INFO), for the report.
    skipped: int = 0

    @property
    def label(self) -> str:
        """How messages name the statement: the bank's statement id or number."""
        return self.statement_ref or self.sequence_number or "?"

    def balance_difference(self) -> Decimal | None:
        """closing - (opening + booked entries); None when the file gives no balances.

        Zero is what a bank file promises; anything else means entries are missing (or extra).
        """
        if self.opening_balance is None or self.closing_balance is None:
            return None
        total = sum((entry.amount for entry in self.entries), Decimal(0))
        return self.closing_balance - (self.opening_balance + total)


@dataclass(slots=True)
class ParsedFile:
    format: str
    statements: list[ParsedStatement] = field(default_factory=list)

    @property
    def entries(self) -> list[ParsedEntry]:
        return [entry for statement in self.statements for entry in statement.entries]
