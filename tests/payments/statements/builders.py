"""Statement files built from the standards, for the tests: camt.053 (.02/.04/.08) and CODA 2.

camt.053: element names and nesting as in the ISO 20022 schemas of each version (.02: Sts as
text, transaction amount in AmtDtls/TxAmt/Amt, party Dbtr/Nm, BIC; .04: TxDtls/Amt, BICFI;
.08: Sts/Cd, party Dbtr/Pty/Nm). CODA 2: 128-column records as in the Febelfin standard.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape

# The company's own account (the default of the "company.iban" setting): lines of any other
# account wait for a person.
ACCOUNT = "BE04068246137931"


@dataclass
class Tx:
    amount: Decimal | str | None = None
    name: str | None = "Jean Dupont"
    iban: str | None = "BE71096123456769"
    bic: str | None = "GKCCBEBB"
    ustrd: list[str] = field(default_factory=list)
    # (reference, Cd, Issr): ("010806817183", "SCOR", "BBA") or ("RF18...", "SCOR", "ISO")
    strd: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    end_to_end: str | None = None
    mandate: str | None = None
    return_reason: str | None = None
    tx_ref: str | None = None


@dataclass
class Entry:
    amount: Decimal | str
    credit: bool = True
    booked: date = date(2025, 3, 3)
    status: str = "BOOK"
    reversal: bool = False
    ref: str | None = None  # AcctSvcrRef
    entry_ref: str | None = None  # NtryRef
    txs: list[Tx] = field(default_factory=list)
    info: str | None = None  # AddtlNtryInf
    family: tuple[str, str, str] = ("PMNT", "RCDT", "ESCT")
    booked_at: str | None = None  # BookgDt/DtTm instead of BookgDt/Dt, e.g. "...T23:30:00Z"


def camt053(entries: list[Entry], version: str = "08", account: str = ACCOUNT,
            statement_id: str = "STMT-2025-03-03", opening: str | None = "1000.00",
            closing: str | None = None, header: str = "", currency: str = "EUR") -> bytes:
    """``closing`` None: what the booked entries make of the opening balance (the file adds
    up); ``opening`` None: a file without balances."""
    v = int(version)
    if closing is None and opening is not None:
        closing = str(Decimal(opening) + sum(
            (_decimal(e.amount) * (1 if e.credit else -1) for e in entries
             if e.status == "BOOK"), Decimal(0)))
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"
    bic = "BIC" if v < 4 else "BICFI"
    body = []
    for entry in entries:
        status = f"<Sts>{entry.status}</Sts>" if v < 7 else f"<Sts><Cd>{entry.status}</Cd></Sts>"
        parts = ["<Ntry>"]
        if entry.entry_ref:
            parts.append(f"<NtryRef>{entry.entry_ref}</NtryRef>")
        parts.append(f'<Amt Ccy="{currency}">{entry.amount}</Amt>')
        parts.append(f"<CdtDbtInd>{'CRDT' if entry.credit else 'DBIT'}</CdtDbtInd>")
        if entry.reversal:
            parts.append("<RvslInd>true</RvslInd>")
        parts.append(status)
        parts.append(f"<BookgDt><DtTm>{entry.booked_at}</DtTm></BookgDt>" if entry.booked_at
                     else f"<BookgDt><Dt>{entry.booked.isoformat()}</Dt></BookgDt>")
        parts.append(f"<ValDt><Dt>{entry.booked.isoformat()}</Dt></ValDt>")
        if entry.ref:
            parts.append(f"<AcctSvcrRef>{entry.ref}</AcctSvcrRef>")
        d, f, s = entry.family
        parts.append(f"<BkTxCd><Domn><Cd>{d}</Cd><Fmly><Cd>{f}</Cd><SubFmlyCd>{s}</SubFmlyCd>"
                     "</Fmly></Domn></BkTxCd>")
        if entry.txs:
            parts.append("<NtryDtls>")
            if len(entry.txs) > 1:
                parts.append(f"<Btch><NbOfTxs>{len(entry.txs)}</NbOfTxs></Btch>")
            for tx in entry.txs:
                parts.append(_tx(tx, v, bic, entry.credit, currency))
            parts.append("</NtryDtls>")
        if entry.info:
            parts.append(f"<AddtlNtryInf>{escape(entry.info)}</AddtlNtryInf>")
        parts.append("</Ntry>")
        body.append("".join(parts))
    balances = "" if opening is None else (
        f'<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="{currency}">'
        f"{abs(Decimal(opening))}</Amt><CdtDbtInd>{_side(opening)}</CdtDbtInd>"
        "<Dt><Dt>2025-03-02</Dt></Dt></Bal>"
        f'<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="{currency}">'
        f"{abs(Decimal(closing))}</Amt><CdtDbtInd>{_side(closing)}</CdtDbtInd>"
        "<Dt><Dt>2025-03-03</Dt></Dt></Bal>")
    document = (
        f'<?xml version="1.0" encoding="UTF-8"?>{header}\n<Document xmlns="{ns}">'
        "<BkToCstmrStmt><GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2025-03-03T18:00:00</CreDtTm>"
        f"</GrpHdr><Stmt><Id>{statement_id}</Id><ElctrncSeqNb>42</ElctrncSeqNb>"
        "<CreDtTm>2025-03-03T18:00:00</CreDtTm>"
        f"<Acct><Id><IBAN>{account}</IBAN></Id><Ccy>{currency}</Ccy></Acct>"
        + balances + "".join(body) + "</Stmt></BkToCstmrStmt></Document>")
    return document.encode("utf-8")


def _decimal(amount) -> Decimal:
    """The amount as a number; 0 for the malformed amounts some tests write on purpose."""
    try:
        return Decimal(str(amount))
    except ArithmeticError:
        return Decimal(0)


def _side(amount) -> str:
    return "DBIT" if Decimal(str(amount)) < 0 else "CRDT"


def _tx(tx: Tx, v: int, bic: str, credit: bool, currency: str = "EUR") -> str:
    parts = ["<TxDtls><Refs>"]
    if tx.tx_ref:
        parts.append(f"<AcctSvcrRef>{tx.tx_ref}</AcctSvcrRef>")
    if tx.end_to_end:
        parts.append(f"<EndToEndId>{escape(tx.end_to_end)}</EndToEndId>")
    if tx.mandate:
        parts.append(f"<MndtId>{escape(tx.mandate)}</MndtId>")
    parts.append("</Refs>")
    if tx.amount is not None:
        if v < 4:
            parts.append(f'<AmtDtls><TxAmt><Amt Ccy="{currency}">{tx.amount}</Amt></TxAmt>'
                         "</AmtDtls>")
        else:
            parts.append(f'<Amt Ccy="{currency}">{tx.amount}</Amt>'
                         f"<CdtDbtInd>{'CRDT' if credit else 'DBIT'}</CdtDbtInd>")
    party = "Dbtr" if credit else "Cdtr"
    if tx.name or tx.iban:
        parts.append("<RltdPties>")
        if tx.name:
            name = f"<Nm>{escape(tx.name)}</Nm>"
            parts.append(f"<{party}>{f'<Pty>{name}</Pty>' if v >= 8 else name}</{party}>")
        if tx.iban:
            parts.append(f"<{party}Acct><Id><IBAN>{tx.iban}</IBAN></Id></{party}Acct>")
        parts.append("</RltdPties>")
    if tx.bic:
        parts.append(f"<RltdAgts><{party}Agt><FinInstnId><{bic}>{tx.bic}</{bic}></FinInstnId>"
                     f"</{party}Agt></RltdAgts>")
    if tx.ustrd or tx.strd:
        parts.append("<RmtInf>")
        parts.extend(f"<Ustrd>{escape(text)}</Ustrd>" for text in tx.ustrd)
        for reference, code, issuer in tx.strd:
            tp = ""
            if code or issuer:
                tp = "<Tp>" + (f"<CdOrPrtry><Cd>{code}</Cd></CdOrPrtry>" if code else "") + \
                    (f"<Issr>{issuer}</Issr>" if issuer else "") + "</Tp>"
            parts.append(f"<Strd><CdtrRefInf>{tp}<Ref>{escape(reference)}</Ref></CdtrRefInf>"
                         "</Strd>")
        parts.append("</RmtInf>")
    if tx.return_reason:
        parts.append(f"<RtrInf><Rsn><Cd>{tx.return_reason}</Cd></Rsn></RtrInf>")
    parts.append("</TxDtls>")
    return "".join(parts)


# --- CODA 2 ----------------------------------------------------------------------------------

def _put(line: list[str], start: int, value: str) -> None:
    """Write value at 1-based position ``start``."""
    for offset, char in enumerate(value):
        line[start - 1 + offset] = char


def _record(*fields: tuple[int, str]) -> str:
    line = [" "] * 128
    for start, value in fields:
        _put(line, start, value)
    return "".join(line)


@dataclass
class CodaMovement:
    amount: Decimal | str  # signed: negative = debit
    ogm: str | None = None  # 12 digits: structured communication type 101
    text: str = ""
    name: str = "PARTNER"
    iban: str = "BE71096123456769"
    bic: str = "GKCCBEBB"
    bank_ref: str = ""
    end_to_end: str = ""
    r_type: str = ""  # record 2.2 position 113 (2 = return, 4 = reversal)
    reason: str = ""  # record 2.2 positions 114-117
    booked: date = date(2025, 3, 3)
    # A SEPA direct debit (structured communication type 127): (creditor id, mandate).
    sepa: tuple[str, str] | None = None
    value_date: str | None = None  # DDMMYY as written; "000000" = not known (the standard)


def coda(movements: list[CodaMovement], account: str = ACCOUNT, number: str = "042",
         opening: str = "1000.00", version: str = "2", closing: str | None = None,
         currency: str = "EUR") -> bytes:
    """``closing`` None: the opening balance plus the movements (the file adds up)."""
    def amount(value) -> tuple[str, str]:
        value = Decimal(str(value))
        return ("1" if value < 0 else "0"), f"{int(abs(value) * 1000):015d}"

    def ddmmyy(day: date) -> str:
        return day.strftime("%d%m%y")

    lines = [_record((1, "0"), (2, "0000"), (6, "030325"), (12, "725"), (15, "05"),
                     (35, "CREDITDESK DEMO SA"), (61, "KREDBEBB"), (128, version))]
    sign, digits = amount(opening)
    lines.append(_record((1, "1"), (2, "2"), (3, number), (6, account), (40, currency), (43, sign),
                         (44, digits), (59, "020325"), (65, "CREDITDESK DEMO SA"),
                         (126, number)))
    total = Decimal(opening)
    for n, m in enumerate(movements, start=1):
        seq = f"{n:04d}"
        sign, digits = amount(m.amount)
        total += Decimal(str(m.amount))
        ref = (m.bank_ref or f"BANKREF{n:06d}")[:21]
        comm22 = comm23 = ""
        if m.ogm:
            communication = [(62, "1"), (63, "101"), (66, m.ogm)]
        elif m.sepa:
            # Type 127 over 2.1 (53), 2.2 (53) and 2.3 (43): type, date, DD type, scheme,
            # paid/refused, creditor id (35), mandate (35), text (62), R-type (1), reason (4).
            zone = ("127" + ddmmyy(m.booked) + "1" + "1" + ("0" if not m.r_type else "3")
                    + m.sepa[0].ljust(35) + m.sepa[1].ljust(35) + m.text[:62].ljust(62)
                    + (m.r_type or " ") + m.reason.ljust(4))
            communication = [(62, "1"), (63, zone[:53])]
            comm22, comm23 = zone[53:106], zone[106:149]
        else:
            communication = [(62, "0"), (63, m.text[:53])]
            comm22 = m.text[53:106]
        lines.append(_record((1, "21"), (3, seq), (7, "0000"), (11, ref), (32, sign),
                             (33, digits), (48, m.value_date or ddmmyy(m.booked)),
                             (54, "00150000"),
                             *communication, (116, ddmmyy(m.booked)), (122, number),
                             (125, "0"), (126, "1"), (128, "0")))
        lines.append(_record((1, "22"), (3, seq), (7, "0000"), (11, comm22),
                             (64, m.end_to_end), (99, m.bic),
                             *(() if m.sepa else ((113, m.r_type), (114, m.reason))),
                             (126, "1"), (128, "0")))
        lines.append(_record((1, "23"), (3, seq), (7, "0000"), (11, m.iban), (48, m.name),
                             (83, comm23), (126, "0"), (128, "0")))
    sign, digits = amount(closing if closing is not None else total)
    lines.append(_record((1, "8"), (2, number), (5, account), (39, currency), (42, sign),
                         (43, digits), (58, "030325")))
    lines.append(_record((1, "9"), (17, f"{len(lines) - 1:06d}")))
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")
