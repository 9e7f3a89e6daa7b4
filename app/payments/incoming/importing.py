"""Importing a bank statement: parse, skip what was already imported, match, book, report.

    report = import_statement(data, "statement.xml", user)

The admin upload, ``flask import-statement`` and the API all come here. One file is one
transaction: it is imported completely or not at all (a crash halfway leaves nothing, and the
same file can simply be imported again).

- The same file (same SHA-256), or a file whose statements were all imported before (same
  account, currency, statement id/sequence and dates: app.payments.incoming.checks), is refused
  as already imported; nothing is stored. A file mixing old and new statements stores the new.
- Each statement's balances must add up (opening + entries = closing), or the file is refused
  unless a person imports it anyway with a reason (audit trail); no balances: a warning.
- Lines in another currency than euros, or of an account that is not the company's, wait for a
  person whatever the rules found. A ZIP archive: each file on its own (archives.py).
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
right after the commit (app.payments.jobs); such a big file's balance changes are added up and
written once per customer, before the commit (``_Run.write_balances``).

Why one module of about 520 lines: one file is one transaction, read top to bottom; the
checks, archives, report and set-wise writer are already modules of their own.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from app.core import audit as audit_trail
from app.core.crypto import iban_hash
from app.core.file_names import clean_file_name
from app.core.models import ZERO
from app.core.sets import chunks, where_in
from app.core.settings import get_setting
from app.extensions import db
from app.invoices.references import format_ogm
from app.payments.consequences import (
    Consequences,
    _notifier,
    _safely,
    apply_balance_deltas,
)
from app.payments.incoming.archives import import_archive, is_zip
from app.payments.incoming.bulk import BulkLedger, InvoiceChanged, LineRow
from app.payments.incoming.checks import (
    HOME_CURRENCY,
    check_balances,
    compact_iban,
    company_accounts,
    statement_key,
)
from app.payments.incoming.matching import Matcher, Proposal
from app.payments.incoming.models import BankStatement, StatementLine
from app.payments.incoming.report import StatementImportReport, Tally  # noqa: F401 (API)
from app.payments.incoming.statements import ParsedEntry, StatementFileError, parse_statement_file
from app.payments.models import Payment
from app.payments.services import ORM, book_payment, reverse_payment

log = logging.getLogger(__name__)
Progress = Callable[[int], None]
CHUNK_SIZE = 5000
_DIRECT_DEBIT_CODES = ("IDDT", "RDDT", "ESDD", "BBDD")


def statement_max_bytes() -> int:
    return int(get_setting("payments.statement_max_mb")) * 1024 * 1024


def import_statement(data: bytes, file_name: str | None = None, user=None, *,
                     progress: Progress | None = None, on_total: Progress | None = None,
                     max_bytes: int | None = None, chunk_size: int = CHUNK_SIZE,
                     force_reason: str | None = None, dry_run: bool = False
                     ) -> StatementImportReport:
    """Import one statement file, or each statement file of a ZIP archive (see the module
    docstring); never raises for a bad file.

    ``force_reason``: a person imports statements whose balances do not add up, and says why
    (recorded in the audit trail with who). ``dry_run``: everything is parsed, checked, matched
    and booked, then rolled back; the report says what would have been booked.
    ``on_total(n)`` is called once the entries are counted, ``progress(k)`` after each chunk.
    """
    limit = max_bytes or statement_max_bytes()
    if is_zip(data):
        return import_archive(data, file_name, user, limit, force_reason, dry_run,
                              import_statement=import_statement, refused=refused)
    started = time.perf_counter()
    # The name is shown on the cash screen: no path, control or bidi-override characters.
    report = StatementImportReport(file_name=clean_file_name(file_name)[:200] if file_name else None,
                                   dry_run=dry_run)
    force_reason = " ".join((force_reason or "").split())[:1000] or None
    progress = progress or (lambda n: None)
    digest = hashlib.sha256(data).hexdigest()
    try:
        earlier = db.session.scalar(select(BankStatement).where(BankStatement.file_sha256 == digest))
    except (OperationalError, ProgrammingError):
        log.exception("the statement tables cannot be read")
        return refused(report, _(
            "The database is not ready: its tables were not created. Run \"flask init-db\" "
            "(or \"flask db upgrade\") once, then import the file again."), "no_database")
    if earlier is not None:
        return refused(report, _already(earlier), "already_imported")
    try:
        parsed = parse_statement_file(data, limit)
    except StatementFileError as exc:
        report.format_found = exc.format_found
        return refused(report, exc.message, exc.code)
    report.format = parsed.format
    known = _already_imported(parsed)
    if known and len(known) == len(parsed.statements):
        return refused(report, _already(next(iter(known.values()))), "already_imported")
    checked = time.perf_counter()
    checks = [check for check in check_balances(parsed)
              if id(check.statement) not in known]
    report.balance_seconds = time.perf_counter() - checked
    wrong = [check for check in checks if check.status == "mismatch"]
    if wrong and not force_reason:
        return refused(report, " ".join(check.message() for check in wrong) + " " + _(
            "Nothing was imported. Ask the bank for the complete file; if you know why it does "
            "not add up, import it anyway and say why."), "balance_mismatch")
    report.warnings.extend(check.message() for check in checks if check.status == "missing")
    if on_total is not None:
        on_total(sum(len(check.statement.entries) for check in checks))
    try:
        _import(parsed, checks, known, digest, report, user, progress, chunk_size, force_reason)
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
            report.committed = True
            if report.messages == "deferred":
                _hand_over_messages(report.statement_ids)
    except (IntegrityError, OperationalError, InvoiceChanged):
        db.session.rollback()
        log.exception("statement import of %s failed", file_name)
        report.statement_ids = []
        refused(report, _(
            "The statement could not be saved: the same entries were being imported at the same "
            "time, or the database was busy. Nothing was imported; please try again."),
            "conflict")
    except BaseException:
        db.session.rollback()
        raise
    report.seconds = time.perf_counter() - started
    return report


def _already(earlier: BankStatement) -> str:
    return _("This file was already imported on %(when)s (statement %(ref)s); nothing was "
             "imported again.", when=format_datetime(earlier.imported_at, "short"),
             ref=earlier.statement_ref or earlier.id)


def _already_imported(parsed) -> dict[int, BankStatement]:
    """{id(parsed statement): the statement imported before} for the file's statements already
    there (same account, currency, statement id/sequence and dates), whatever the bytes."""
    keys = {id(found): key for found in parsed.statements
            if (key := statement_key(found)) is not None}
    if not keys:
        return {}
    rows = {row.statement_key: row for row in db.session.scalars(
        select(BankStatement).where(BankStatement.statement_key.in_(set(keys.values()))))}
    return {found_id: rows[key] for found_id, key in keys.items() if key in rows}


def _hand_over_messages(statement_ids: list[int]) -> None:
    """After the commit: the job queues the thank-you messages (see app.payments.jobs)."""
    from app.jobs import enqueue

    try:
        enqueue("app.payments.jobs.send_payment_messages", statement_ids,
                job_id=f"payment-messages-{'-'.join(map(str, statement_ids))}")
    except Exception:
        log.exception("could not enqueue the messages of statements %s", statement_ids)


def refused(report: StatementImportReport, message: str, code: str) -> StatementImportReport:
    db.session.rollback()
    report.error, report.error_code = message, code
    return report


def _import(parsed, checks, known: dict, digest: str, report: StatementImportReport, user,
            progress: Progress, chunk_size: int, force_reason: str | None) -> None:
    user_id = getattr(user, "id", None)
    work: list[tuple[int, ParsedEntry, str]] = []
    statements = []
    ours = company_accounts()
    for found in parsed.statements:
        if id(found) in known:  # sent before (in another file): its entries are all there
            report.duplicates += len(found.entries)
            report.skipped += found.skipped
    for index, check in enumerate(checks):
        found = check.statement
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
            skipped_count=found.skipped, statement_key=statement_key(found),
            balance_status=check.status, balance_difference=check.difference,
            imported_anyway_reason=force_reason if check.status == "mismatch" else None,
            account_known=compact_iban(found.account_iban) in ours)
        db.session.add(statement)
        statements.append(statement)
        report.skipped += found.skipped
        if not statement.account_known:
            report.warnings.append(_(
                "Statement %(number)s of %(total)s (%(id)s) is of account %(account)s, which is "
                "not one of the company's accounts (settings): its payments wait for a person.",
                number=check.number, total=check.total, id=found.label,
                account=found.account_iban or "?"))
    db.session.flush()
    for statement, check in zip(statements, checks, strict=True):
        if check.status == "mismatch":
            report.warnings.append(check.message())
            audit_trail.record("import_anyway", "bank_statement", statement.id, fields=[
                "balance_difference", "imported_anyway_reason"], user=user, detail=_(
                    "Imported although its balances do not add up (difference %(difference)s)"
                    ": %(reason)s", difference=check.difference, reason=force_reason))
    for statement, check in zip(statements, checks, strict=True):
        found = check.statement
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
        Decimal(str(get_setting("payments.suggest_min_confidence")))),
        held={s.id for s in statements if not s.account_known})
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
    run.write_balances()
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
                 thresholds: tuple[Decimal, Decimal], held: set[int] = frozenset()):
        self.report, self.messages = report, messages
        self.held = held  # statements of accounts that are not the company's
        self.auto, self.suggest_min = thresholds
        self.returned: list[Payment] = []
        self.hashes: dict[str, str | None] = {}
        # Balance changes of the file's bulk bookings, written once per customer per file
        # (write_balances, before the commit: same transaction, so a crash leaves nothing).
        # With inline messages the "account settled" check needs each chunk's new balances.
        self.pending_balances: dict[int, Decimal] = {}
        self.balances = "delta" if messages == "inline" else "pending"

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
        consequences = Consequences(messages=self.messages, balances=self.balances,
                                    pending=self.pending_balances)
        later: list[int] = []
        for line in lines:
            best = best_of.get(id(line))
            if line.kind == "return" or (best is not None and best.installments):
                later.append(line.id)  # stored as "new", decided below through the ORM
            elif line.kind == "payment":
                self.payment(line, best, ledger, consequences, matcher.open_invoices_of)
            else:
                line.status = "ignored"
                self.report.ignored.add(line.amount, line.currency)
        ledger.lines = lines
        ledger.write()
        consequences.apply()
        if later:
            # The ORM path recomputes its customers' balances from the payments stored: the
            # changes added up so far must be in the balance first, or they would count twice.
            self.write_balances()
            self.orm_lines(later)

    def write_balances(self) -> None:
        apply_balance_deltas(self.pending_balances)
        self.pending_balances.clear()

    def payment(self, line, best: Proposal | None, ledger, consequences: Consequences,
                open_invoices_of) -> None:
        incoming_return = line.is_reversal or bool(line.return_reason)
        wait = self._wait_reason(line)
        if best is not None and wait:
            # Shown with the suggestion; never booked without a person.
            best.confidence = min(best.confidence, self.auto - Decimal("0.001"))
            best.notes.append(wait)
        if best is not None and best.confidence >= self.auto and not incoming_return:
            book_payment(
                amount=line.amount, received_on=line.booking_date, customer_id=best.customer_id,
                invoices=best.invoices, installments=best.installments, rule=best.rule,
                confidence=best.confidence, fill_oldest=best.fill_oldest, method=_method(line),
                communication=_communication(line), counterparty_name=line.counterparty_name,
                counterparty_iban=line.counterparty_iban, statement_line=line,
                consequences=consequences, open_invoices_of=open_invoices_of, ledger=ledger,
                currency=line.currency)
            _decided(line, "matched", best)
            self.report.matched.add(line.amount, line.currency)
            return
        ledger.new_payment(
            amount=line.amount, unallocated_amount=line.amount, received_on=line.booking_date,
            currency=line.currency,
            method=_method(line), status="unmatched", communication=_communication(line),
            counterparty_name=line.counterparty_name, counterparty_iban=line.counterparty_iban,
            statement_line=line)
        if best is not None and best.confidence >= self.suggest_min and not incoming_return:
            _decided(line, "suggested", best)
            self.report.suggested.add(line.amount, line.currency)
        else:
            if incoming_return:
                best = best or Proposal("incoming_return", ZERO)
                best.notes.append("incoming_return")
            elif wait and best is None:
                best = Proposal(wait, ZERO, notes=[wait])
            _decided(line, "unmatched", best)
            self.report.unmatched.add(line.amount, line.currency)

    def _wait_reason(self, line) -> str | None:
        """Why a line must wait for a person whatever the rules found: money in a currency
        other than the home one, or a line of an account that is not the company's."""
        if (line.currency or HOME_CURRENCY).upper() != HOME_CURRENCY:
            return "foreign_currency"
        if line.statement_id in self.held:
            return "not_our_account"
        return None

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
                self.report.returns.add(line.amount, line.currency)
            else:
                if best is None:
                    best = Proposal("return", ZERO, notes=["return_not_found"])
                _decided(line, "suggested" if best.payment is not None else "unmatched", best)
                self.report.returns_open.add(line.amount, line.currency)
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
    from app.core.audit_models import AuditEvent
    from app.customers.models import BankAccount, Customer, Mandate
    from app.invoices.models import Invoice
    from app.notifications.models import Message
    from app.payments.models import Allocation, InstallmentPayment
    from app.requests.models import Deferral, Installment, PaymentPlan

    kinds = (StatementLine, Payment, Allocation, InstallmentPayment, Invoice, Installment,
             PaymentPlan, Deferral, Customer, BankAccount, Mandate, Message, AuditEvent)
    for instance in [obj for obj in db.session
                     if isinstance(obj, kinds) and id(obj) not in keep]:
        db.session.expunge(instance)
