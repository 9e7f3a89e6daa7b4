"""What a statement file must show before anything is booked from it.

- Its balances add up: opening (camt OPBD/PRCD, CODA old balance) + booked entries = closing
  (camt CLBD, CODA new balance), per statement. A file that does not add up is refused, naming
  the statement and the difference, unless a person imports it anyway with a reason.
- Its account is one of the company's (``company.iban`` and ``payments.company_accounts``):
  lines of any other account are stored but wait for a person, the statement flagged.
- Its identity: account, currency, statement id/sequence and dates, not the file's bytes, so
  that a file sent again with other line endings is recognised.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _

from app.core.i18n import money
from app.core.settings import get_setting
from app.payments.incoming.statements import ParsedFile, ParsedStatement

HOME_CURRENCY = "EUR"  # what invoices are issued in; other currencies wait for a person


@dataclass(frozen=True)
class BalanceCheck:
    statement: ParsedStatement
    number: int  # 1-based position in the file
    total: int  # statements in the file
    difference: Decimal | None  # None: the file gives no balances

    @property
    def status(self) -> str:
        if self.difference is None:
            return "missing"
        return "ok" if self.difference == 0 else "mismatch"

    def message(self) -> str:
        found = self.statement
        if self.difference is None:
            return _("Statement %(number)s of %(total)s (%(id)s) gives no opening and closing "
                     "balance: it could not be checked that no entry is missing.",
                     number=self.number, total=self.total, id=found.label)
        currency = found.currency or HOME_CURRENCY
        entries = sum((entry.amount for entry in found.entries), Decimal(0))
        return _("Statement %(number)s of %(total)s (%(id)s, account %(account)s) does not add "
                 "up: opening balance %(opening)s + entries %(entries)s = %(expected)s, but the "
                 "closing balance is %(closing)s (difference %(difference)s).",
                 number=self.number, total=self.total, id=found.label,
                 account=found.account_iban or "?",
                 opening=money(found.opening_balance, currency),
                 entries=money(entries, currency),
                 expected=money(found.opening_balance + entries, currency),
                 closing=money(found.closing_balance, currency),
                 difference=money(self.difference, currency))


def check_balances(parsed: ParsedFile) -> list[BalanceCheck]:
    total = len(parsed.statements)
    return [BalanceCheck(statement, number, total, statement.balance_difference())
            for number, statement in enumerate(parsed.statements, start=1)]


def company_accounts() -> set[str]:
    """The company's IBANs, compact and upper case."""
    raw = f"{get_setting('company.iban') or ''}\n{get_setting('payments.company_accounts') or ''}"
    return {compact_iban(part) for part in re.split(r"[\s,;]*\n[\s,;]*|[,;]", raw)
            if compact_iban(part)}


def compact_iban(value: str | None) -> str:
    return re.sub(r"\s", "", value or "").upper()


def statement_key(found: ParsedStatement) -> str | None:
    """The statement's identity across files; None when the file does not say enough to tell
    (no statement id or number and no dates): then only the file's bytes identify it."""
    if not (found.statement_ref or found.sequence_number) and not (found.from_date
                                                                   or found.to_date):
        return None
    parts = ["statement", compact_iban(found.account_iban), (found.currency or "").upper(),
             found.statement_ref or "", found.sequence_number or "",
             found.from_date.isoformat() if found.from_date else "",
             found.to_date.isoformat() if found.to_date else ""]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
