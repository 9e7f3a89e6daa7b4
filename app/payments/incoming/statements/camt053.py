"""ISO 20022 camt.053 (bank-to-customer statement), versions .001.02 to .001.13.

Read with defusedxml: a DOCTYPE (and so any entity, internal or external) is refused, which is
what stops XXE and "billion laughs" files; bank statements never carry one. The file is read as
a stream (iterparse) and each entry is dropped once read, so a 100,000-entry file does not build
a 100,000-entry tree.

Element names are read by local name within the file's own namespace. Differences between the
versions handled here: the amount of a transaction (AmtDtls/TxAmt/Amt in .02, Amt from .04), the
status (text in .02/.04, Sts/Cd from .07), party names (Dbtr/Nm, Dbtr/Pty/Nm from .08), BIC vs
BICFI. An entry with several transaction details (a batch) becomes one entry per transaction
when their amounts add up to the entry's amount; otherwise it stays one entry.
"""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as StdET
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from flask_babel import gettext as _

from app.core.time import BUSINESS_TZ
from app.invoices.references import InvalidReference, normalise_ogm, normalise_rf
from app.payments.incoming.statements.model import (
    NOT_PROVIDED,
    ParsedEntry,
    ParsedFile,
    ParsedStatement,
    StatementFileError,
    in_statement,
)

NAMESPACE = re.compile(r"^\{urn:iso:std:iso:20022:tech:xsd:(camt\.053\.001\.(\d{2}))\}Document$")
SUPPORTED_VERSIONS = range(2, 14)
_AMOUNT = re.compile(r"^\d{1,15}(\.\d{1,5})?$")
FREE_TEXT_SEPARATOR = " | "


def parse(data: bytes) -> ParsedFile:
    statements: list[ParsedStatement] = []
    reader = None
    entries: list[ParsedEntry] = []
    skipped = 0
    statement_id = None  # the <Stmt><Id> being read, for messages
    try:
        # Only "end" events: an element is complete when seen. Every element of the file is in
        # the one namespace, so the first one tells the message and its version.
        events = SafeET.iterparse(io.BytesIO(data), events=("end",), forbid_dtd=True,
                                  forbid_entities=True, forbid_external=True)
        for _event, element in events:
            tag = element.tag
            if reader is None:
                reader = _Reader.for_namespace(tag)
            if tag == reader.ntry:
                try:
                    found = reader.entries(element, len(entries) + skipped + 1)
                except StatementFileError as exc:
                    raise in_statement(exc, len(statements) + 1, _count_statements(data),
                                       statement_id) from None
                for entry in found:
                    if entry.status == "BOOK":
                        entries.append(entry)
                    else:
                        skipped += 1
                element.clear()  # read: drop its content, only the statement header is kept
            elif tag == reader.stmt:
                try:
                    statements.append(reader.statement(element, entries, skipped))
                except StatementFileError as exc:
                    raise in_statement(exc, len(statements) + 1, _count_statements(data),
                                       statement_id) from None
                entries, skipped, statement_id = [], 0, None
                element.clear()
            elif tag == reader.id and statement_id is None and not len(element):
                # <Stmt><Id> is the statement's first element: the first childless <Id> after
                # a statement starts (GrpHdr holds MsgId, not Id).
                statement_id = (element.text or "").strip()[:100] or None
            elif tag == reader.document:
                reader.check_root(element)
    except DefusedXmlException as exc:
        raise StatementFileError(_(
            "The file declares a document type or entities (<!DOCTYPE ...>). Bank statements "
            "never do; the file was refused for safety and nothing was imported."),
            "unsafe_xml") from exc
    except StdET.ParseError as exc:
        raise StatementFileError(_(
            "The file is not well-formed XML (line %(line)s, column %(column)s); nothing was "
            "imported.", line=exc.position[0], column=exc.position[1])) from exc
    if reader is None:
        raise StatementFileError(_("The file is empty."), "empty")
    if not statements:
        raise StatementFileError(_("The camt.053 file holds no statement (<Stmt>)."))
    return ParsedFile(format=reader.format, statements=statements)


class _Reader:
    """Reads the parts of one camt.053 version.

    Fields are reached by chained one-step ``find`` calls on qualified names (the C
    ElementTree's fast path), prepared once per path: on a 100,000-entry file this is several
    times faster than ElementPath searches or walking every element.
    """

    def __init__(self, namespace: str, message: str):
        self.format, self.namespace = message, namespace
        self.prefix = f"{{{namespace}}}"
        self.ntry, self.stmt = f"{self.prefix}Ntry", f"{self.prefix}Stmt"
        self.document, self.id = f"{self.prefix}Document", f"{self.prefix}Id"
        self._paths: dict[str, tuple[str, ...]] = {}

    @classmethod
    def for_namespace(cls, tag: str) -> _Reader:
        namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
        match = NAMESPACE.match(f"{{{namespace}}}Document")
        if not match:
            found = namespace.replace("urn:iso:std:iso:20022:tech:xsd:", "") or \
                f"<{tag}>"
            raise StatementFileError(_(
                "This is not a camt.053 statement (found %(found)s).", found=found),
                "unsupported_format", found)
        if int(match.group(2)) not in SUPPORTED_VERSIONS:
            raise StatementFileError(_(
                "camt.053 version %(version)s is not supported (versions .001.02 to .001.13 "
                "are).", version=match.group(1)), "unsupported_version", match.group(1))
        return cls(namespace, match.group(1))

    def check_root(self, element: StdET.Element) -> None:
        """A camt.053 holds BkToCstmrStmt; anything else in this namespace is not a statement."""
        if element.find(f"{self.prefix}BkToCstmrStmt") is None:
            raise StatementFileError(_("The camt.053 file holds no statement (<Stmt>)."))

    # -- helpers --
    def get(self, element: StdET.Element | None, path: str) -> StdET.Element | None:
        names = self._paths.get(path)
        if names is None:
            names = self._paths[path] = tuple(self.prefix + name for name in path.split("/"))
        for name in names:
            if element is None:
                return None
            element = element.find(name)
        return element

    def all(self, element: StdET.Element | None, path: str) -> list[StdET.Element]:
        parent, _slash, last = path.rpartition("/")
        if parent:
            element = self.get(element, parent)
        return [] if element is None else element.findall(self.prefix + last)

    def text(self, element: StdET.Element | None, *paths: str) -> str | None:
        for path in paths:
            found = self.get(element, path)
            if found is not None and found.text:
                value = found.text.strip()
                if value:
                    return value
        return None

    def texts(self, element: StdET.Element, path: str) -> list[str]:
        return [e.text for e in self.all(element, path) if e.text]

    @staticmethod
    def amount(element: StdET.Element | None, where: int) -> tuple[Decimal, str] | None:
        if element is None:
            return None
        raw = (element.text or "").strip()
        if not _AMOUNT.match(raw):
            raise StatementFileError(_(
                "Entry %(n)s: %(value)s is not an amount.", n=where, value=raw[:40]))
        try:
            return Decimal(raw), (element.get("Ccy") or "EUR").upper()[:3]
        except InvalidOperation:  # pragma: no cover - the pattern already refuses these
            raise StatementFileError(_("Entry %(n)s: %(value)s is not an amount.", n=where,
                                       value=raw[:40])) from None

    def day(self, element: StdET.Element, *paths: str, where: int | str = "?") -> date | None:
        raw = self.text(element, *paths)
        if raw is None:
            return None
        try:
            return business_date(raw)
        except ValueError:
            raise StatementFileError(_("Entry %(n)s: %(value)s is not a date.",
                                       n=where, value=raw[:40])) from None

    # -- the statement header --
    def statement(self, element: StdET.Element, entries: list[ParsedEntry],
                  skipped: int) -> ParsedStatement:
        opening = closing = None
        currency = self.text(element, "Acct/Ccy")
        for balance in self.all(element, "Bal"):
            value = self.amount(self.get(balance, "Amt"), 0)
            if value is None:
                continue
            amount, currency = value[0], currency or value[1]
            if self.text(balance, "CdtDbtInd") == "DBIT":
                amount = -amount
            code = self.text(balance, "Tp/CdOrPrtry/Cd")
            if code in ("OPBD", "PRCD") and opening is None:
                opening = amount
            elif code == "CLBD":
                closing = amount
        dates = [entry.booking_date for entry in entries]
        return ParsedStatement(
            format=self.format,
            account_iban=_compact(self.text(element, "Acct/Id/IBAN", "Acct/Id/Othr/Id")),
            currency=currency, statement_ref=self.text(element, "Id"),
            sequence_number=self.text(element, "ElctrncSeqNb", "LglSeqNb"),
            from_date=self.day(element, "FrToDt/FrDtTm") or (min(dates) if dates else None),
            to_date=self.day(element, "FrToDt/ToDtTm") or (max(dates) if dates else None),
            opening_balance=opening, closing_balance=closing, entries=entries, skipped=skipped)

    # -- entries --
    def entries(self, ntry: StdET.Element, position: int) -> list[ParsedEntry]:
        value = self.amount(self.get(ntry, "Amt"), position)
        if value is None:
            raise StatementFileError(_("Entry %(n)s has no amount.", n=position))
        amount, currency = value
        credit = self.text(ntry, "CdtDbtInd") != "DBIT"
        value_date = self.day(ntry, "ValDt/Dt", "ValDt/DtTm", where=position)
        booking = self.day(ntry, "BookgDt/Dt", "BookgDt/DtTm", where=position) or value_date
        if booking is None:
            raise StatementFileError(_("Entry %(n)s has no booking date.", n=position))
        code = "/".join(part for part in (
            self.text(ntry, "BkTxCd/Domn/Cd"), self.text(ntry, "BkTxCd/Domn/Fmly/Cd"),
            self.text(ntry, "BkTxCd/Domn/Fmly/SubFmlyCd")) if part) or \
            self.text(ntry, "BkTxCd/Prtry/Cd")
        base = {
            "currency": currency, "booking_date": booking, "value_date": value_date,
            "status": (self.text(ntry, "Sts/Cd", "Sts") or "BOOK").upper(),
            "is_reversal": (self.text(ntry, "RvslInd") or "").lower() in ("true", "1"),
            "bank_reference": self.text(ntry, "AcctSvcrRef"),
            "entry_reference": self.text(ntry, "NtryRef"), "transaction_code": code,
            "position": position}
        details = [tx for group in self.all(ntry, "NtryDtls") for tx in self.all(group, "TxDtls")]
        amounts = [self._tx_amount(tx, credit, position) for tx in details]
        entry_info = self.text(ntry, "AddtlNtryInf")
        signed = amount if credit else -amount
        if len(details) > 1 and None not in amounts and sum(amounts) == signed:
            return [self._entry(tx, tx_amount, credit, base, None, index)
                    for index, (tx, tx_amount) in enumerate(zip(details, amounts), start=1)]
        if not details:
            return [ParsedEntry(amount=signed, free_text=entry_info, **base)]
        # One transaction, or a batch we cannot split: its details describe the whole entry.
        entry = self._entry(details[0], signed, credit, base, entry_info, 0)
        for tx in details[1:]:
            extra = self._entry(tx, signed, credit, base, None, 0)
            entry.free_text = _join(entry.free_text, extra.free_text)
        return [entry]

    def _tx_amount(self, tx: StdET.Element, entry_credit: bool, position: int
                   ) -> Decimal | None:
        found = self.get(tx, "Amt")
        value = self.amount(found if found is not None else self.get(tx, "AmtDtls/TxAmt/Amt"),
                            position)
        if value is None:
            return None
        indicator = self.text(tx, "CdtDbtInd")
        credit = entry_credit if indicator is None else indicator != "DBIT"
        return value[0] if credit else -value[0]

    def _entry(self, tx: StdET.Element, amount: Decimal, credit: bool, base: dict,
               entry_info: str | None, batch_position: int) -> ParsedEntry:
        remittance = self.get(tx, "RmtInf")
        structured = [] if remittance is None else remittance.findall(self.prefix + "Strd")
        reference, kind, other_references = self._references(structured)
        texts = [*self.texts(remittance, "Ustrd"), *other_references,
                 *(self.text(strd, "AddtlRmtInf") for strd in structured),
                 self.text(tx, "AddtlTxInf"), entry_info]
        # The counterparty is the other side: the debtor of money in, the creditor of money
        # out (a returned direct debit is money out and names our customer as either).
        sides = ("Dbtr", "Cdtr") if credit else ("Cdtr", "Dbtr")
        party = self._party(tx, sides[0])
        if not any(party):
            party = self._party(tx, sides[1])
        end_to_end = self.text(tx, "Refs/EndToEndId")
        fields = dict(base)
        fields["bank_reference"] = base["bank_reference"] or self.text(tx, "Refs/AcctSvcrRef")
        return ParsedEntry(
            amount=amount, counterparty_name=party[0], counterparty_iban=_compact(party[1]),
            counterparty_bic=(party[2] or "").upper()[:11] or None,
            structured_reference=reference, reference_kind=kind,
            free_text=_join(*texts), end_to_end_id=None if (end_to_end or "").upper()
            in NOT_PROVIDED else end_to_end,
            mandate_reference=self.text(tx, "Refs/MndtId"),
            return_reason=self.text(tx, "RtrInf/Rsn/Cd", "RtrInf/Rsn/Prtry"),
            batch_position=batch_position, **fields)

    def _party(self, tx: StdET.Element, side: str) -> tuple[str | None, ...]:
        """(name, IBAN, BIC) of the debtor ("Dbtr") or the creditor ("Cdtr")."""
        parties = self.get(tx, "RltdPties")
        agent = self.get(tx, f"RltdAgts/{side}Agt/FinInstnId")
        return (self.text(parties, f"{side}/Nm", f"{side}/Pty/Nm"),
                self.text(parties, f"{side}Acct/Id/IBAN"), self.text(agent, "BIC", "BICFI"))

    def _references(self, structured: list[StdET.Element]
                    ) -> tuple[str | None, str | None, list[str]]:
        """The first usable structured reference, its kind, and the others as text."""
        chosen: tuple[str | None, str | None] = (None, None)
        others: list[str] = []
        for strd in structured:
            raw = self.text(strd, "CdtrRefInf/Ref")
            if not raw:
                continue
            kind, value = classify_reference(raw, self.text(strd, "CdtrRefInf/Tp/CdOrPrtry/Cd"),
                                             self.text(strd, "CdtrRefInf/Tp/Issr"))
            if chosen[0] is None or (chosen[1] == "other" and kind != "other"):
                if chosen[0] is not None:
                    others.append(chosen[0])
                chosen = (value, kind)
            else:
                others.append(value if kind == "other" else raw)
        return chosen[0], chosen[1], others


def business_date(raw: str) -> date:
    """The Brussels date of a camt date or date-time: "2025-03-03T23:30:00Z" is the 4th in
    Brussels. A date-time without an offset is taken as the bank's local (Brussels) time."""
    if len(raw) > 10 and raw[10] == "T":
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        if moment.tzinfo is not None:
            return moment.astimezone(BUSINESS_TZ).date()
        return moment.date()
    return date.fromisoformat(raw[:10])


_STMT_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Stmt[\s>]")


def _count_statements(data: bytes) -> int:
    return max(len(_STMT_START.findall(data)), 1)


def classify_reference(raw: str, code: str | None = None, issuer: str | None = None
                       ) -> tuple[str, str]:
    """("ogm", 12 digits) | ("rf", "RF..") | ("other", as given) for a structured reference.

    Belgian banks send the OGM with Cd=SCOR and Issr=BBA (12 digits, no +++); an RF reference
    comes with Issr=ISO. The check digits decide, so a mislabelled reference is still found.
    """
    compact = raw.strip()
    if (issuer or "").upper() != "ISO":
        try:
            return "ogm", normalise_ogm(compact)
        except InvalidReference:
            pass
    if compact.replace(" ", "").upper().startswith("RF"):
        try:
            return "rf", normalise_rf(compact)
        except InvalidReference:
            pass
    return "other", compact[:35]


def _compact(value: str | None) -> str | None:
    return value.replace(" ", "").upper()[:34] if value else None


def _join(*parts: str | None) -> str | None:
    seen: list[str] = []
    for part in parts:
        text = " ".join((part or "").split())
        if text and text not in seen:
            seen.append(text)
    return FREE_TEXT_SEPARATOR.join(seen) or None

