"""CODA 2 (Febelfin "COded statement of Account", the Belgian bank statement), 128-column text.

Records used (positions are 1-based, as in the Febelfin standard):
- 0 header: 128 = version ("2");
- 1 old balance: 2 = account structure (0/1 = BBAN, 2/3 = IBAN), 3-5 = statement number,
  6-42 = account and currency, 43 = sign (0 credit, 1 debit), 44-58 = amount (3 decimals),
  59-64 = date DDMMYY;
- 2.1 movement: 3-6 = sequence, 7-10 = detail number, 11-31 = bank reference, 32 = sign,
  33-47 = amount, 48-53 = value date, 54-61 = transaction code, 62 = 1 when the communication is
  structured, 63-115 = communication (structured: 63-65 = type, 101/102 = OGM in 66-77),
  116-121 = entry (booking) date, 125 = globalisation code;
- 2.2: 11-63 = communication (continued), 64-98 = customer reference (SEPA end-to-end id),
  99-109 = counterparty BIC, 113 = type of R-transaction, 114-117 = ISO reason code;
- 2.3: 11-44 = counterparty account (IBAN), 48-82 = counterparty name, 83-125 = communication;
- 3.x information records: free communication (3.1: 41-113, 3.2: 11-115, 3.3: 11-100);
- 8 new balance: 42 = sign, 43-57 = amount, 58-63 = date; 9 trailer.
Amounts are in thousandths (never floats here). A globalised movement whose detail movements add
up to it is split into the details, like a camt.053 batch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _

from app.invoices.references import InvalidReference, normalise_ogm
from app.payments.incoming.statements.camt053 import FREE_TEXT_SEPARATOR
from app.payments.incoming.statements.model import (
    NOT_PROVIDED,
    ParsedEntry,
    ParsedFile,
    ParsedStatement,
    StatementFileError,
    in_statement,
)

FORMAT = "coda2"
# Types of R-transaction (record 2.2, position 113).
R_TYPES = {"1": "reject", "2": "return", "3": "refund", "4": "reversal", "5": "cancellation"}


def _field(line: str, start: int, end: int) -> str:
    """Positions start..end (1-based, inclusive), as the standard numbers them."""
    return line[start - 1:end]


@dataclass
class _Movement:
    sequence: str
    detail: str
    records: dict[str, str] = field(default_factory=dict)  # "21", "22", "23" -> line
    information: list[str] = field(default_factory=list)  # communication of 3.x records


def parse(data: bytes) -> ParsedFile:
    _refuse_utf8(data)
    text = data.decode("latin-1")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    total = max(sum(1 for line in lines if line[:1] == "1"), 1)
    statements: list[ParsedStatement] = []
    try:
        return _parse_lines(lines, statements)
    except StatementFileError as exc:
        current = getattr(exc, "statement", None)
        if current is None:
            raise
        raise in_statement(exc, len(statements) + 1, total, current.label) from None


def _refuse_utf8(data: bytes) -> None:
    """CODA is Latin-1, 128 characters a record. Saved again as UTF-8 (an editor, a mail
    client), accented names take two bytes and every later column shifts: refuse it by name."""
    if data.startswith(b"\xef\xbb\xbf"):
        utf8 = True
    else:
        lines = data.split(b"\n")
        long_lines = [line for line in lines if len(line.rstrip(b"\r")) > 128]
        try:
            utf8 = bool(long_lines) and all(
                len(line.rstrip(b"\r").decode("utf-8")) <= 128 for line in long_lines)
        except UnicodeDecodeError:
            utf8 = False
    if utf8:
        raise StatementFileError(_(
            "This CODA file was saved as UTF-8 (by an editor or a mail program): its accented "
            "letters take two bytes, so every column after them moves. CODA files are Latin-1; "
            "download the original file from the bank again and import it unchanged."),
            "coda_utf8", "CODA (UTF-8)")


def _parse_lines(lines: list[str], statements: list[ParsedStatement]) -> ParsedFile:
    statement: ParsedStatement | None = None
    movements: list[_Movement] = []
    seen_header = False
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            statement, movements, seen_header = _record_line(
                raw, number, statement, movements, seen_header, statements)
        except StatementFileError as exc:
            exc.statement = statement
            raise
    if statement is not None:
        raise StatementFileError(_("The CODA file ends before the new balance record (8)."))
    if not statements:
        raise StatementFileError(_("The CODA file holds no statement."), "empty")
    return ParsedFile(format=FORMAT, statements=statements)


def _record_line(raw: str, number: int, statement: ParsedStatement | None,
                 movements: list[_Movement], seen_header: bool,
                 statements: list[ParsedStatement]):
    """One record; returns (the statement being read, its movements, header seen)."""
    line = raw.ljust(128)
    record = line[0]
    if record == "0":
        version = _field(line, 128, 128)
        if version != "2":
            raise StatementFileError(_(
                "CODA version %(version)s is not supported; ask the bank for CODA 2.",
                version=version.strip() or "?"), "unsupported_version", f"CODA {version}")
        seen_header = True
    elif not seen_header:
        raise StatementFileError(_("Line %(line)s: a CODA file starts with a header record "
                                   "(0).", line=number))
    elif record == "1":
        statement = _old_balance(line, number)
        movements = []
    elif record in ("2", "3"):
        if statement is None:
            raise StatementFileError(_("Line %(line)s: a movement before the old balance "
                                       "record (1).", line=number))
        _add_record(movements, line)
    elif record == "8":
        if statement is None:
            raise StatementFileError(_("Line %(line)s: a new balance without an old "
                                       "balance record (1).", line=number))
        statement.closing_balance = _amount(line, 42, 57, number)
        statement.to_date = _date(_field(line, 58, 63), number)
        statement.entries = _entries(movements, statement.account_iban or "")
        for entry in statement.entries:  # movements are in the account's currency
            entry.currency = (statement.currency or "EUR").upper()
        # The old balance is dated at the previous statement: the period is the entries'.
        dates = [entry.booking_date for entry in statement.entries]
        statement.from_date = min(dates) if dates else statement.to_date
        statements.append(statement)
        statement = None
    elif record in ("4", "9"):
        pass  # free message and trailer: nothing to book
    else:
        raise StatementFileError(_("Line %(line)s: unknown CODA record type %(type)s.",
                                   line=number, type=record))
    return statement, movements, seen_header


def _old_balance(line: str, number: int) -> ParsedStatement:
    structure = _field(line, 2, 2)
    if structure == "0":  # Belgian account number (BBAN), currency in 19-21
        account, currency = _field(line, 6, 17), _field(line, 19, 21)
    else:  # IBAN (2 Belgian, 3 foreign) or a foreign account number (1); currency in 40-42
        account, currency = _field(line, 6, 39), _field(line, 40, 42)
    return ParsedStatement(
        format=FORMAT, account_iban=account.replace(" ", "")[:34] or None,
        currency=currency.strip() or None, statement_ref=_field(line, 3, 5).strip() or None,
        sequence_number=_field(line, 126, 128).strip() or None,
        opening_balance=_amount(line, 43, 58, number))


def _add_record(movements: list[_Movement], line: str) -> None:
    kind = line[:2]
    sequence, detail = _field(line, 3, 6), _field(line, 7, 10)
    if kind == "21":
        movements.append(_Movement(sequence, detail, {"21": line}))
        return
    if kind in ("22", "23"):
        for movement in reversed(movements):
            if movement.sequence == sequence and movement.detail == detail:
                movement.records[kind] = line
                return
        return  # a continuation of a movement we did not see: nothing to attach it to
    if kind in ("31", "32", "33"):
        # Information records carry their own detail number: they belong to the movement.
        start, end = {"31": (41, 113), "32": (11, 115), "33": (11, 100)}[kind]
        if kind == "31" and _field(line, 40, 40) == "1":
            start += 3  # a structured information record starts with its 3-digit type
        for movement in reversed(movements):
            if movement.sequence == sequence:
                movement.information.append(_field(line, start, end))
                return


def _entries(movements: list[_Movement], account: str) -> list[ParsedEntry]:
    entries: list[ParsedEntry] = []
    mains = [m for m in movements if m.detail == "0000"]
    for position, main in enumerate(mains, start=1):
        details = [m for m in movements if m.sequence == main.sequence and m.detail != "0000"]
        entry = _entry(main, position)
        if details and _globalised(main):
            parts = [_entry(detail, position, batch=int(detail.detail) or 1) for detail in details]
            if sum(part.amount for part in parts) == entry.amount:
                for part in parts:  # details rarely repeat the counterparty: keep the main's
                    part.counterparty_name = part.counterparty_name or entry.counterparty_name
                    part.counterparty_iban = part.counterparty_iban or entry.counterparty_iban
                entries.extend(parts)
                continue
        entries.append(entry)
    return entries


def _globalised(movement: _Movement) -> bool:
    return _field(movement.records["21"], 125, 125) not in ("0", " ")


def _entry(movement: _Movement, position: int, batch: int = 0) -> ParsedEntry:
    r21 = movement.records["21"]
    # Absent continuation records read as blanks: every field of theirs is then empty.
    r22 = movement.records.get("22", "").ljust(128)
    r23 = movement.records.get("23", "").ljust(128)
    where = f"{movement.sequence}/{movement.detail}"
    amount = _amount(r21, 32, 47, where)
    communication = _field(r21, 63, 115) + _field(r22, 11, 63) + _field(r23, 83, 125)
    structured = _field(r21, 62, 62) == "1"
    reference = kind = mandate = None
    r_type_127 = reason_127 = ""
    texts: list[str] = []
    if structured:
        comm_type = communication[:3]
        if comm_type in ("101", "102"):
            try:
                reference, kind = normalise_ogm(communication[3:15]), "ogm"
            except InvalidReference:
                reference, kind = communication[3:15].strip() or None, "other"
        elif comm_type == "127":
            # SEPA direct debit, over records 2.1, 2.2 and 2.3 (53 + 53 + 43 positions): type
            # (3), settlement date (6), direct debit type (1), scheme (1), paid or refused (1),
            # creditor id (35), mandate reference (35), communication (62), type of
            # R-transaction (1), reason (4).
            mandate = communication[47:82].strip() or None
            texts.append(communication[82:144])
            r_type_127, reason_127 = communication[144:145].strip(), communication[145:149].strip()
        else:
            texts.append(communication[3:])
    else:
        texts.append(communication)
    texts.extend(movement.information)
    r_type = _field(r22, 113, 113).strip() or r_type_127
    reason = _field(r22, 114, 117).strip() or reason_127
    end_to_end = _field(r22, 64, 98).strip()
    bank_reference = _field(r21, 11, 31).strip()
    return ParsedEntry(
        amount=amount, booking_date=_date(_field(r21, 116, 121), where),
        # "000000" is the standard's "value date not known": the booking date stands in.
        value_date=_date(_field(r21, 48, 53), where) if _field(r21, 48, 53) != "000000"
        else _date(_field(r21, 116, 121), where),
        is_reversal=r_type == "4",
        return_reason=(reason or R_TYPES.get(r_type, "")[:10] or None) if r_type else None,
        counterparty_name=_field(r23, 48, 82).strip() or None,
        counterparty_iban=_field(r23, 11, 44).replace(" ", "")[:34] or None,
        counterparty_bic=_field(r22, 99, 109).strip() or None,
        structured_reference=reference, reference_kind=kind,
        free_text=FREE_TEXT_SEPARATOR.join(
            text for text in (" ".join(part.split()) for part in texts) if text) or None,
        bank_reference=(bank_reference + (f"/{movement.detail}" if batch else "")) or None,
        end_to_end_id=None if end_to_end.upper() in NOT_PROVIDED else end_to_end,
        mandate_reference=mandate, transaction_code=_field(r21, 54, 61).strip() or None,
        batch_position=batch, position=position)


def _amount(line: str, sign_position: int, end: int, where) -> Decimal:
    digits = _field(line, sign_position + 1, end)
    sign = _field(line, sign_position, sign_position)
    if not digits.isdigit() or sign not in ("0", "1"):
        raise StatementFileError(_("CODA record %(where)s: %(value)s is not an amount.",
                                   where=where, value=(sign + digits).strip() or "?"))
    value = (Decimal(int(digits)) / 1000).quantize(Decimal("0.001"))
    if value == value.quantize(Decimal("0.01")):
        value = value.quantize(Decimal("0.01"))
    return -value if sign == "1" else value


def _date(raw: str, where) -> date:
    try:
        day, month, year = int(raw[:2]), int(raw[2:4]), int(raw[4:6])
        return date(2000 + year, month, day)
    except ValueError:
        raise StatementFileError(_("CODA record %(where)s: %(value)s is not a date (DDMMYY).",
                                   where=where, value=raw.strip() or "?")) from None
