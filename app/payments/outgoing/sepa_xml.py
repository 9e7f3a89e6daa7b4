"""Writing SEPA XML files: pain.008.001.02 (direct debit) and pain.001.001.03 (credit transfer).

Version choice: pain.008.001.02 and pain.001.001.03, the 2009 ISO versions of the EPC rulebook
implementation guidelines that Belgian banks (Febelfin) accept. Written with ElementTree in
UTF-8; amounts are Decimal strings with two decimals; names and texts are reduced to the SEPA
character set (Latin letters, digits, / - ? : ( ) . , ' + space), because banks reject others.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from xml.etree import ElementTree as ET

PAIN_008 = "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"
PAIN_001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
_NOT_SEPA = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")


def sepa_text(value: str | None, max_length: int) -> str:
    """``value`` in the SEPA character set: accents dropped, other characters become spaces."""
    decomposed = unicodedata.normalize("NFKD", value or "")
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    cleaned = re.sub(r"\s+", " ", _NOT_SEPA.sub(" ", ascii_only)).strip()
    return cleaned[:max_length].strip() or "NOTPROVIDED"


def sepa_id(value: str, max_length: int = 35) -> str:
    """An identifier (message, payment information, end-to-end): no spaces, no leading "/"."""
    cleaned = re.sub(r"[^A-Za-z0-9\-.]", "", value)[:max_length]
    return cleaned or "NOTPROVIDED"


def amount_text(value: Decimal) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


@dataclass
class Party:
    name: str
    iban: str
    bic: str | None = None


@dataclass
class DebitTransaction:
    end_to_end_id: str
    amount: Decimal
    mandate_id: str
    mandate_signed_on: date
    debtor: Party
    remittance: str


@dataclass
class CreditTransaction:
    end_to_end_id: str
    amount: Decimal
    creditor: Party
    remittance: str


@dataclass
class DirectDebitFile:
    message_id: str
    payment_info_id: str
    created_at: datetime
    collection_date: date
    sequence_type: str  # FRST, RCUR, OOFF
    scheme: str  # CORE, B2B
    creditor: Party
    creditor_id: str
    transactions: list[DebitTransaction] = field(default_factory=list)
    batch_booking: bool = True


@dataclass
class TransferFile:
    message_id: str
    payment_info_id: str
    created_at: datetime
    execution_date: date
    debtor: Party
    transactions: list[CreditTransaction] = field(default_factory=list)
    batch_booking: bool = True


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def _path(parent: ET.Element, path: str, text: str | None = None) -> ET.Element:
    element = parent
    for tag in path.split("/"):
        element = ET.SubElement(element, tag)
    if text is not None:
        element.text = text
    return element


def _agent(parent: ET.Element, tag: str, bic: str | None) -> None:
    institution = _path(parent, f"{tag}/FinInstnId")
    if bic:
        _sub(institution, "BIC", bic.upper())
    else:  # EPC guidelines: no BIC inside the EEA
        _path(institution, "Othr/Id", "NOTPROVIDED")


def _header(root: ET.Element, message_id: str, created_at: datetime, count: int, total: Decimal,
            initiator: str) -> None:
    header = _sub(root, "GrpHdr")
    _sub(header, "MsgId", sepa_id(message_id))
    _sub(header, "CreDtTm", created_at.replace(microsecond=0, tzinfo=None).isoformat())
    _sub(header, "NbOfTxs", str(count))
    _sub(header, "CtrlSum", amount_text(total))
    _path(header, "InitgPty/Nm", sepa_text(initiator, 70))


def _document(namespace: str, body: str) -> tuple[ET.Element, ET.Element]:
    root = ET.Element("Document", {"xmlns": namespace})
    return root, _sub(root, body)


def _serialise(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def direct_debit_xml(spec: DirectDebitFile) -> bytes:
    """pain.008.001.02 with one payment information block."""
    total = sum((t.amount for t in spec.transactions), Decimal(0))
    count = len(spec.transactions)
    root, body = _document(PAIN_008, "CstmrDrctDbtInitn")
    _header(body, spec.message_id, spec.created_at, count, total, spec.creditor.name)
    info = _sub(body, "PmtInf")
    _sub(info, "PmtInfId", sepa_id(spec.payment_info_id))
    _sub(info, "PmtMtd", "DD")
    _sub(info, "BtchBookg", "true" if spec.batch_booking else "false")
    _sub(info, "NbOfTxs", str(count))
    _sub(info, "CtrlSum", amount_text(total))
    kind = _sub(info, "PmtTpInf")
    _path(kind, "SvcLvl/Cd", "SEPA")
    _path(kind, "LclInstrm/Cd", spec.scheme)
    _sub(kind, "SeqTp", spec.sequence_type)
    _sub(info, "ReqdColltnDt", spec.collection_date.isoformat())
    _path(info, "Cdtr/Nm", sepa_text(spec.creditor.name, 70))
    _path(info, "CdtrAcct/Id/IBAN", spec.creditor.iban)
    _agent(info, "CdtrAgt", spec.creditor.bic)
    _sub(info, "ChrgBr", "SLEV")
    scheme_id = _path(info, "CdtrSchmeId/Id/PrvtId/Othr")
    _sub(scheme_id, "Id", spec.creditor_id)
    _path(scheme_id, "SchmeNm/Prtry", "SEPA")
    for tx in spec.transactions:
        item = _sub(info, "DrctDbtTxInf")
        _path(item, "PmtId/EndToEndId", sepa_id(tx.end_to_end_id))
        _sub(item, "InstdAmt", amount_text(tx.amount), Ccy="EUR")
        mandate = _path(item, "DrctDbtTx/MndtRltdInf")
        _sub(mandate, "MndtId", sepa_text(tx.mandate_id, 35))
        _sub(mandate, "DtOfSgntr", tx.mandate_signed_on.isoformat())
        _agent(item, "DbtrAgt", tx.debtor.bic)
        _path(item, "Dbtr/Nm", sepa_text(tx.debtor.name, 70))
        _path(item, "DbtrAcct/Id/IBAN", tx.debtor.iban)
        _path(item, "RmtInf/Ustrd", sepa_text(tx.remittance, 140))
    return _serialise(root)


def transfer_xml(spec: TransferFile) -> bytes:
    """pain.001.001.03 with one payment information block."""
    total = sum((t.amount for t in spec.transactions), Decimal(0))
    count = len(spec.transactions)
    root, body = _document(PAIN_001, "CstmrCdtTrfInitn")
    _header(body, spec.message_id, spec.created_at, count, total, spec.debtor.name)
    info = _sub(body, "PmtInf")
    _sub(info, "PmtInfId", sepa_id(spec.payment_info_id))
    _sub(info, "PmtMtd", "TRF")
    _sub(info, "BtchBookg", "true" if spec.batch_booking else "false")
    _sub(info, "NbOfTxs", str(count))
    _sub(info, "CtrlSum", amount_text(total))
    _path(info, "PmtTpInf/SvcLvl/Cd", "SEPA")
    _sub(info, "ReqdExctnDt", spec.execution_date.isoformat())
    _path(info, "Dbtr/Nm", sepa_text(spec.debtor.name, 70))
    _path(info, "DbtrAcct/Id/IBAN", spec.debtor.iban)
    _agent(info, "DbtrAgt", spec.debtor.bic)
    _sub(info, "ChrgBr", "SLEV")
    for tx in spec.transactions:
        item = _sub(info, "CdtTrfTxInf")
        _path(item, "PmtId/EndToEndId", sepa_id(tx.end_to_end_id))
        _sub(_sub(item, "Amt"), "InstdAmt", amount_text(tx.amount), Ccy="EUR")
        if tx.creditor.bic:
            _agent(item, "CdtrAgt", tx.creditor.bic)
        _path(item, "Cdtr/Nm", sepa_text(tx.creditor.name, 70))
        _path(item, "CdtrAcct/Id/IBAN", tx.creditor.iban)
        _path(item, "RmtInf/Ustrd", sepa_text(tx.remittance, 140))
    return _serialise(root)


def iter_text(values: Iterable[str], max_length: int) -> str:
    """Join values with ", " while they fit in ``max_length``."""
    joined = ""
    for value in values:
        candidate = f"{joined}, {value}" if joined else value
        if len(candidate) > max_length:
            break
        joined = candidate
    return joined
