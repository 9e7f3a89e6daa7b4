"""Which format a file is, named so that a refusal can say what was found.

Detection only looks at the first bytes; the parser of the detected format then reads the whole
file (and re-checks the XML namespace on the parsed root element).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_ISO_NAMESPACE = re.compile(
    rb"urn:iso:std:iso:20022:tech:xsd:([a-z]{4}\.\d{3}\.\d{3}\.\d{2})", re.IGNORECASE)
_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s/>]")
_MT940_TAGS = (b":20:", b":25:", b":60F:", b":60M:", b":61:")
CAMT053 = "camt.053"
CODA = "coda"

# What the other ISO 20022 messages people confuse with a statement are.
_ISO_NAMES = {
    "camt.052": "intraday account report",
    "camt.054": "debit/credit notification",
    "pain.001": "credit transfer order",
    "pain.002": "payment status report",
    "pain.008": "direct debit order",
}


@dataclass(frozen=True)
class DetectedFormat:
    family: str  # "camt.053", "coda", or something we refuse ("camt.054", "pain.008", "MT940", ...)
    name: str  # what to tell people: "camt.053.001.08", "CODA 2", "camt.054.001.04 (...)"
    version: str | None = None  # "001.08" for ISO 20022 messages, "2" for CODA

    @property
    def supported(self) -> bool:
        return self.family in (CAMT053, CODA)


def detect_format(data: bytes) -> DetectedFormat:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        _doctype, root = xml_prolog(data)
        return _detect_xml(root)
    if head.startswith(b"{1:") or sum(tag in data[:8192] for tag in _MT940_TAGS) >= 3:
        return DetectedFormat("MT940", "MT940 (SWIFT)")
    first_line = head.split(b"\n", 1)[0].rstrip(b"\r")
    if first_line.startswith(b"0") and first_line[:5] == b"00000" and len(first_line) >= 128:
        version = chr(first_line[127])
        return DetectedFormat(CODA, f"CODA {version}", version)
    if first_line.startswith(b"%PDF"):
        return DetectedFormat("PDF", "PDF")
    if b";" in first_line or b"," in first_line:
        return DetectedFormat("CSV", "CSV")
    return DetectedFormat("unknown", "unknown")


def _detect_xml(root: bytes) -> DetectedFormat:
    found = _ISO_NAMESPACE.search(root)
    if found:
        message = found.group(1).decode("ascii").lower()  # e.g. camt.053.001.08
        family, version = message[:8], message[9:]
        name = message if family == CAMT053 else (
            f"{message} ({_ISO_NAMES[family]})" if family in _ISO_NAMES else message)
        return DetectedFormat(family, name, version)
    tag = _ROOT.search(root + b" ")
    name = tag.group(1).decode("ascii", "replace") if tag else "?"
    return DetectedFormat("XML", f"XML <{name}>")


def xml_prolog(data: bytes) -> tuple[bool, bytes]:
    """(whether the prolog declares a DOCTYPE, the root element's start tag).

    Everything before the root element is walked (declaration, comments, processing
    instructions, however long): a DTD can only be declared there.
    """
    position, size = 0, len(data)
    while position < size:
        if data[position:position + 3] == b"\xef\xbb\xbf" or data[position] in b" \t\r\n":
            position += 3 if data[position] == 0xEF else 1
            continue
        if data.startswith(b"<?", position):
            end, step = data.find(b"?>", position), 2
        elif data.startswith(b"<!--", position):
            end, step = data.find(b"-->", position), 3
        elif data.startswith(b"<!", position):
            return True, b""  # <!DOCTYPE (or anything else a DTD could hide behind)
        elif data.startswith(b"<", position):
            end = data.find(b">", position)
            return False, data[position:end + 1 if end >= 0 else position + 4096]
        else:
            return False, b""
        if end < 0:
            return False, b""
        position = end + step
    return False, b""
