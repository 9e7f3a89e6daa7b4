"""What an import tells the person who ran it: counts, amounts per currency, warnings."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _

from app.core.models import ZERO
from app.payments.incoming.checks import HOME_CURRENCY


@dataclass
class Tally:
    """How many lines and how much money, per currency: francs are never added to euros."""

    count: int = 0
    amounts: dict[str, Decimal] = field(default_factory=dict)

    def add(self, amount: Decimal, currency: str = HOME_CURRENCY) -> None:
        self.count += 1
        self.amounts[currency] = self.amounts.get(currency, ZERO) + amount

    def merge(self, other: Tally) -> None:
        self.count += other.count
        for currency, amount in other.amounts.items():
            self.amounts[currency] = self.amounts.get(currency, ZERO) + amount

    @property
    def amount(self) -> Decimal:
        """The amount in the home currency (euros) only; see ``amounts`` for the others."""
        return self.amounts.get(HOME_CURRENCY, ZERO)

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "amount": str(self.amount),
                "amounts": {currency: str(amount)
                            for currency, amount in sorted(self.amounts.items())}}


@dataclass
class StatementImportReport:
    file_name: str | None = None
    format: str | None = None
    statement_ids: list[int] = field(default_factory=list)
    entries: int = 0  # booked entries in the file
    new_lines: int = 0
    duplicates: int = 0  # entries already imported (overlapping files)
    skipped: int = 0  # pending or information-only entries: not imported
    matched: Tally = field(default_factory=Tally)
    suggested: Tally = field(default_factory=Tally)
    unmatched: Tally = field(default_factory=Tally)
    returns: Tally = field(default_factory=Tally)  # returns/reversals applied
    returns_open: Tally = field(default_factory=Tally)  # returns waiting for a person
    ignored: Tally = field(default_factory=Tally)  # money out
    error: str | None = None
    error_code: str | None = None
    format_found: str | None = None
    committed: bool = False
    seconds: float = 0.0
    # "inline": thank-you messages queued in the import's transaction; "deferred": by the
    # app.payments.jobs.send_payment_messages job right after it (a big file).
    messages: str = "inline"
    # What a person should know although the file was imported: no balances to check, an
    # account that is not the company's, balances that did not add up (imported anyway).
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False  # everything done, then rolled back: what would be booked
    files: list[dict[str, Any]] = field(default_factory=list)  # the files of a ZIP archive
    balance_seconds: float = 0.0  # time spent checking balances (the bench prints it)

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        if self.error:
            return self.error
        return _("%(new)s new lines imported (%(duplicates)s already imported): %(matched)s "
                 "matched automatically, %(suggested)s suggested, %(unmatched)s unmatched, "
                 "%(returns)s returns.", new=self.new_lines, duplicates=self.duplicates,
                 matched=self.matched.count, suggested=self.suggested.count,
                 unmatched=self.unmatched.count,
                 returns=self.returns.count + self.returns_open.count)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message": self.summary(), "imported": self.committed, "file_name": self.file_name,
            "format": self.format, "statement_ids": self.statement_ids, "entries": self.entries,
            "new_lines": self.new_lines, "duplicates": self.duplicates, "skipped": self.skipped,
            "warnings": list(self.warnings), "dry_run": self.dry_run}
        if self.files:
            data["files"] = self.files
        for name in ("matched", "suggested", "unmatched", "returns", "returns_open", "ignored"):
            data[name] = getattr(self, name).as_dict()
        if self.error:
            data["error"] = {"code": self.error_code, "format_found": self.format_found}
        return data
