"""Importing a bank statement: parse, skip what was already imported, match, book, report.

    report = import_statement(data, "statement.xml", user)

The admin upload, ``flask import-statement`` and the API all come here. One file is one
transaction: it is imported completely or not at all (a crash halfway leaves nothing, and the
same file can simply be imported again).

- The same file (same SHA-256) is refused as already imported; nothing is stored.
- Entries already imported from another file (overlapping statements) are recognised by their
  key (account, bank or entry reference, booking date, amount; the content when the bank gives
  no reference) and skipped: nothing is booked twice.
- Money in: matched (app.payments.incoming.matching), booked through book_payment when the confidence is
  high enough; every such line gets a Payment, unmatched ones with no customer yet, and wait in
  the queue. Returns and reversals: the payment they take back is reversed (reverse_payment).
  Money out (our own payments) is stored and ignored.

Lines are processed in chunks (5,000): each chunk's lookups are a few set-wise queries, its
bookings go through the same rules on row objects and are written in a few statements
(app.payments.incoming.bulk: COPY on PostgreSQL), and what it loaded leaves the session, so a
100,000-entry file runs in bounded memory and time. Returns and payments of plan instalments
take the ORM path once the chunk is written. Thank-you messages are queued in the import's
transaction, or, for a file with more payments than ``payments.inline_messages_max``, by a job
right after the commit (app.payments.jobs).
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from app.core.crypto import iban_hash
from app.core.file_names import clean_file_name
from app.core.models import ZERO
from app.core.sets import chunks, where_in
from app.core.settings import get_setting
from app.extensions import db
from app.payments.consequences import Consequences, _notifier, _safely
from app.payments.incoming.bulk import BulkLedger, InvoiceChanged, LineRow
from app.payments.incoming.matching import Matcher, Proposal
from app.payments.incoming.models import BankStatement, StatementLine
from app.payments.incoming.statements import ParsedEntry, StatementFileError, parse_statement_file
from app.payments.models import Payment
from app.payments.references import format_ogm
from app.payments.services import ORM, book_payment, reverse_payment

log = logging.getLogger(__name__)
Progress = Callable[[int], None]
CHUNK_SIZE = 5000
_DIRECT_DEBIT_CODES = ("IDDT", "RDDT", "ESDD", "BBDD")


@dataclass
class Tally:
    count: int = 0
    amount: Decimal = ZERO

    def add(self, amount: Decimal) -> None:
        self.count += 1
        self.amount += amount

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "amount": str(self.amount)}


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
            "new_lines": self.new_lines, "duplicates": self.duplicates, "skipped": self.skipped}
        for name in ("matched", "suggested", "unmatched", "returns", "returns_open", "ignored"):
            data[name] = getattr(self, name).as_dict()
        if self.error:
            data["error"] = {"code": self.error_code, "format_found": self.format_found}
        return data


def statement_max_bytes() -> int:
    return int(get_setting("payments.statement_max_mb")) * 1024 * 1024


def import_statement(data: bytes, file_name: str | None = None, user=None, *,
                     progress: Progress | None = None, on_total: Progress | None = None,
                     max_bytes: int | None = None, chunk_size: int = CHUNK_SIZE
                     ) -> StatementImportReport:
    """Import one statement file (see the module docstring); never raises for a bad file.

    ``on_total(n)`` is called once the entries are counted, ``progress(k)`` after each chunk.
    """
    started = time.perf_counter()
    # The name is shown on the cash screen: no path, control or bidi-override characters.
    report = StatementImportReport(file_name=clean_file_name(file_name)[:200] if file_name else None)
    progress = progress or (lambda n: None)
    digest = hashlib.sha256(data).hexdigest()
    earlier = db.session.scalar(select(BankStatement).where(BankStatement.file_sha256 == digest))
    if earlier is not None:
        return _refused(report, _(
            "This file was already imported on %(when)s (statement %(ref)s); nothing was "
            "imported again.", when=format_datetime(earlier.imported_at, "short"),
            ref=earlier.statement_ref or earlier.id), "already_imported")
    try:
        parsed = parse_statement_file(data, max_bytes or statement_max_bytes())
    except StatementFileError as exc:
        report.format_found = exc.format_found
        return _refused(report, exc.message, exc.code)
    report.format = parsed.format
    if on_total is not None:
        on_total(len(parsed.entries))
    try:
        _import(parsed, digest, report, user, progress, chunk_size)
        db.session.commit()
        report.committed = True
        if report.messages == "deferred":
            _hand_over_messages(report.statement_ids)
    except (IntegrityError, OperationalError, InvoiceChanged):
        db.session.rollback()
        log.exception("statement import of %s failed", file_name)
        report.statement_ids = []
        _refused(report, _(
            "The statement could not be saved: the same entries were being imported at the same "
            "time, or the database was busy. Nothing was imported; please try again."),
            "conflict")
    except BaseException:
        db.session.rollback()
        raise
    report.seconds = time.perf_counter() - started
    return report


def _hand_over_messages(statement_ids: list[int]) -> None:
    """After the commit: the job queues the thank-you messages (see app.payments.jobs)."""
    from app.jobs import enqueue

    try:
        enqueue("app.payments.jobs.send_payment_messages", statement_ids,
                job_id=f"payment-messages-{'-'.join(map(str, statement_ids))}")
    except Exception:
        log.exception("could not enqueue the messages of statements %s", statement_ids)


def _refused(report: StatementImportReport, message: str, code: str) -> StatementImportReport:
    db.session.rollback()
    report.error, report.error_code = message, code
    return report


def _import(parsed, digest: str, report: StatementImportReport, user, progress: Progress,
            chunk_size: int) -> None:
    user_id = getattr(user, "id", None)
    work: list[tuple[int, ParsedEntry, str]] = []
    statements = []
    for index, found in enumerate(parsed.statements):
        statement = BankStatement(
            format=found.format[:20], account_iban=found.account_iban,
            statement_ref=(found.statement_ref or "")[:100] or None, from_date=found.from_date,
            to_date=found.to_date, opening_balance=found.opening_balance,
            closing_balance=found.closing_balance, file_name=report.file_name,
            # One file may hold several statements (accounts): the first carries the file's
            # fingerprint, the others one derived from it (the column is unique).
            file_sha256=digest if index == 0 else
            hashlib.sha256(f"{digest}:{index}".encode()).hexdigest(),
            imported_by_id=user_id, currency=found.currency,
            sequence_number=(found.sequence_number or "")[:20] or None,
            skipped_count=found.skipped)
        db.session.add(statement)
        statements.append(statement)
        report.skipped += found.skipped
    db.session.flush()
    for statement, found in zip(statements, parsed.statements, strict=True):
        report.statement_ids.append(statement.id)
        seen: Counter[str] = Counter()
        for entry in found.entries:
            base = _base_key(found.account_iban or "", entry)
            seen[base] += 1
            work.append((statement.id, entry, _digest(f"{base}\x1f{seen[base]}")))
    report.entries = len(work)
    credits = sum(1 for _s, entry, _k in work if entry.amount > 0)
    report.messages = ("inline" if credits <= int(get_setting("payments.inline_messages_max"))
                       else "deferred")
    run = _Run(report, report.messages, (
        Decimal(str(get_setting("payments.auto_match_confidence"))),
        Decimal(str(get_setting("payments.suggest_min_confidence")))))
    keep = {id(instance) for instance in db.session}  # the caller's objects stay attached
    counts: dict[int, list[int]] = {s.id: [0, 0] for s in statements}  # lines, duplicates
    statement_ids = [s.id for s in statements]
    for part in chunks(work, chunk_size):
        keys = [key for _s, _e, key in part]
        existing = {key for condition in where_in(StatementLine.dedup_key, keys)
                    for key in db.session.scalars(select(StatementLine.dedup_key)
                                                  .where(condition))}
        new = [(statement_id, entry, key) for statement_id, entry, key in part
               if key not in existing]
        for statement_id, _entry, key in part:
            counts[statement_id][0 if key not in existing else 1] += 1
        report.duplicates += len(part) - len(new)
        report.new_lines += len(new)
        if new:
            run.chunk(new)
        db.session.flush()
        _release_chunk(keep)
        progress(len(part))
    for statement_id in statement_ids:
        statement = db.session.get(BankStatement, statement_id)
        statement.line_count, statement.duplicate_count = counts[statement_id]


class _Run:
    """One import's decisions, chunk by chunk.

    Money in is matched and booked on the fast path (row objects, set-wise writes). Lines that
    need the ORM afterwards: returns and reversals (they undo ORM payments) and payments of plan
    instalments (rare), handled once the chunk's rows are written.
    """

    def __init__(self, report: StatementImportReport, messages: str,
                 thresholds: tuple[Decimal, Decimal]):
        self.report, self.messages = report, messages
        self.auto, self.suggest_min = thresholds
        self.returned: list[Payment] = []
        self.hashes: dict[str, str | None] = {}

    def iban_hash(self, iban: str | None) -> str | None:
        """The keyed hash of a payer's IBAN (stored with the line and its payment, compared by
        the matching): computed once per distinct IBAN of the file."""
        if iban is None:
            return None
        try:
            return self.hashes[iban]
        except KeyError:
            digest = self.hashes[iban] = iban_hash(iban)
            return digest

    def chunk(self, new: list[tuple[int, ParsedEntry, str]]) -> None:
        ledger = BulkLedger()
        ledger.reserve("statement_line", len(new))
        lines = [_line(ledger.next_id("statement_line"), statement_id, entry, key,
                       self.iban_hash(entry.counterparty_iban))
                 for statement_id, entry, key in new]
        payments = [line for line in lines if line.kind == "payment"]
        ledger.reserve("payment", len(payments))
        matcher = Matcher(lock=True, rows=True)
        proposals = matcher.propose(payments)
        best_of = {id(line): _best(proposals[i]) for i, line in enumerate(payments)}
        # Customers whose payment may exceed what it names: their other open invoices at once.
        matcher.load_open_invoices({
            best.customer_id for line in payments
            if (best := best_of[id(line)]) is not None and best.customer_id
            and best.confidence >= self.auto and best.fill_oldest
            and line.amount > sum((i.open_amount for i in best.invoices), ZERO)})
        consequences = Consequences(messages=self.messages, balances="delta")
        later: list[int] = []
        for line in lines:
            best = best_of.get(id(line))
            if line.kind == "return" or (best is not None and best.installments):
                later.append(line.id)  # stored as "new", decided below through the ORM
            elif line.kind == "payment":
                self.payment(line, best, ledger, consequences, matcher.open_invoices_of)
            else:
                line.status = "ignored"
                self.report.ignored.add(line.amount)
        ledger.lines = lines
        ledger.write()
        consequences.apply()
        if later:
            self.orm_lines(later)

    def payment(self, line, best: Proposal | None, ledger, consequences: Consequences,
                open_invoices_of) -> None:
        incoming_return = line.is_reversal or bool(line.return_reason)
        if best is not None and best.confidence >= self.auto and not incoming_return:
            book_payment(
                amount=line.amount, received_on=line.booking_date, customer_id=best.customer_id,
                invoices=best.invoices, installments=best.installments, rule=best.rule,
                confidence=best.confidence, fill_oldest=best.fill_oldest, method=_method(line),
                communication=_communication(line), counterparty_name=line.counterparty_name,
                counterparty_iban=line.counterparty_iban, statement_line=line,
                consequences=consequences, open_invoices_of=open_invoices_of, ledger=ledger)
            _decided(line, "matched", best)
            self.report.matched.add(line.amount)
            return
        ledger.new_payment(
            amount=line.amount, unallocated_amount=line.amount, received_on=line.booking_date,
            method=_method(line), status="unmatched", communication=_communication(line),
            counterparty_name=line.counterparty_name, counterparty_iban=line.counterparty_iban,
            statement_line=line)
        if best is not None and best.confidence >= self.suggest_min and not incoming_return:
            _decided(line, "suggested", best)
            self.report.suggested.add(line.amount)
        else:
            if incoming_return:
                best = best or Proposal("incoming_return", ZERO)
                best.notes.append("incoming_return")
            _decided(line, "unmatched", best)
            self.report.unmatched.add(line.amount)

    def orm_lines(self, ids: list[int]) -> None:
        # The chunk's rows were written around the ORM: what it loaded before may be stale.
        db.session.expire_all()
        lines = [line for condition in where_in(StatementLine.id, ids) for line in
                 db.session.scalars(select(StatementLine).where(condition))]
        lines.sort(key=lambda line: line.id)
        matcher = Matcher(lock=True)
        proposals = matcher.propose(lines)
        consequences = Consequences(messages=self.messages)
        for index, line in enumerate(lines):
            best = _best(proposals[index])
            if line.kind == "payment":
                self.payment(line, best, ORM, consequences, matcher.open_invoices_of)
            elif best is not None and best.payment is not None and best.confidence >= self.auto:
                reverse_payment(best.payment, reason_code=line.return_reason or (
                    "RVSL" if line.is_reversal else None), line=line, consequences=consequences)
                _decided(line, "matched", best)
                self.returned.append(best.payment)
                self.report.returns.add(line.amount)
            else:
                if best is None:
                    best = Proposal("return", ZERO, notes=["return_not_found"])
                _decided(line, "suggested" if best.payment is not None else "unmatched", best)
                self.report.returns_open.add(line.amount)
        consequences.apply()
        _tell_about_returns(self.returned)
        self.returned = []


def _base_key(account: str, entry: ParsedEntry) -> str:
    """What identifies an entry across files: the bank's reference when it gives one."""
    amount = str(entry.amount.quantize(Decimal("0.001")))
    reference = entry.bank_reference or entry.entry_reference
    if reference:
        parts = ["ref", account, reference, entry.booking_date.isoformat(), amount,
                 str(entry.batch_position)]
    else:
        parts = ["content", account, entry.booking_date.isoformat(), amount, entry.currency,
                 entry.end_to_end_id or "", entry.mandate_reference or "",
                 entry.counterparty_iban or "", entry.structured_reference or "",
                 entry.free_text or "", str(entry.batch_position)]
    return "\x1f".join(parts)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _line(line_id: int, statement_id: int, entry: ParsedEntry, key: str,
          iban_digest: str | None) -> LineRow:
    returned = entry.is_reversal or bool(entry.return_reason)
    if entry.amount > 0:
        kind = "payment"
    elif entry.amount < 0 and returned:
        kind = "return"
    else:
        kind = "debit"
    return LineRow(
        id=line_id, statement_id=statement_id, booking_date=entry.booking_date,
        value_date=entry.value_date, amount=entry.amount.quantize(Decimal("0.01")),
        currency=(entry.currency or "EUR")[:3],
        counterparty_name=(entry.counterparty_name or "")[:200] or None,
        counterparty_iban=entry.counterparty_iban, iban_hash=iban_digest,
        counterparty_bic=entry.counterparty_bic, structured_reference=(entry.structured_reference or "")[:35] or None,
        free_text=entry.free_text, bank_reference=(entry.bank_reference or "")[:100] or None,
        end_to_end_id=(entry.end_to_end_id or "")[:100] or None,
        mandate_reference=(entry.mandate_reference or "")[:35] or None,
        is_reversal=entry.is_reversal, return_reason=(entry.return_reason or "")[:10] or None,
        dedup_key=key, status="new", kind=kind,
        transaction_code=(entry.transaction_code or "")[:40] or None)


def _best(proposals: list[Proposal]) -> Proposal | None:
    return proposals[0] if proposals else None


def _decided(line, status: str, best: Proposal | None) -> None:
    """The line's status; what matched (or is proposed) and how sure; the proposal kept."""
    line.status = status
    if best is None:
        return
    if status == "unmatched":  # too unsure to propose: kept for the record only
        line.suggestion = best.as_suggestion()
        return
    line.match_rule = best.rule
    line.match_confidence = best.confidence.quantize(Decimal("0.001"))
    line.customer_id = best.customer_id
    if status != "matched" or best.notes:
        line.suggestion = best.as_suggestion()


def _method(line) -> str:
    code = line.transaction_code or ""
    if line.mandate_reference or any(part in code for part in _DIRECT_DEBIT_CODES) or \
            code[1:3] == "05":  # CODA family 05: direct debit
        return "direct_debit"
    return "transfer"


def _communication(line) -> str | None:
    reference = line.structured_reference
    if reference and len(reference) == 12 and reference.isdigit():
        return format_ogm(reference)
    return (reference or line.free_text or "")[:200] or None


def _tell_about_returns(returned: list[Payment]) -> None:
    """A returned payment is visible to staff (the cash screen lists returns to review) and to
    the customer: the payment shows as returned, and a message (payment_returned: what was
    returned and why, what is due again, a link to pay it) is queued once per payment."""
    if not returned:
        return
    log.warning("%s payment(s) returned by the bank: %s", len(returned),
                ", ".join(str(p.id) for p in returned[:20]))
    notify = _notifier("notify_payment_returned")
    if notify is not None:
        for payment in returned:
            if payment.customer_id:
                _safely(notify, payment)


# Objects a chunk loaded or wrote leave the session once flushed, so memory and flush time stay
# flat over a long file. Objects the caller held before the import (the staff user, a record on
# screen) stay attached.
def _release_chunk(keep: set[int]) -> None:
    from app.customers.models import BankAccount, Customer, Mandate
    from app.invoices.models import Invoice
    from app.notifications.models import Message
    from app.payments.models import Allocation, InstallmentPayment
    from app.requests.models import Deferral, Installment, PaymentPlan
    from app.retention.models import AuditEvent

    kinds = (StatementLine, Payment, Allocation, InstallmentPayment, Invoice, Installment,
             PaymentPlan, Deferral, Customer, BankAccount, Mandate, Message, AuditEvent)
    for instance in [obj for obj in db.session
                     if isinstance(obj, kinds) and id(obj) not in keep]:
        db.session.expunge(instance)
