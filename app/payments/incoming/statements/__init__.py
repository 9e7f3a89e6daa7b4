"""Bank statement files: recognise the format, refuse what we do not read, parse the rest.

    parsed = parse_statement_file(data, max_bytes=...)   # ParsedFile, or StatementFileError

camt.053 (.001.02 to .001.13) and CODA 2 are read; every other format (camt.054, camt.052,
pain.*, MT940, CSV, ...) is refused with a message naming what the file is.
"""
from __future__ import annotations

import re

from flask_babel import gettext as _

from app.payments.incoming.statements import camt053, coda
from app.payments.incoming.statements.detect import (
    CAMT053,
    CODA,
    DetectedFormat,
    detect_format,
    xml_prolog,
)
from app.payments.incoming.statements.model import (
    ParsedEntry,
    ParsedFile,
    ParsedStatement,
    StatementFileError,
)

__all__ = ["DetectedFormat", "ParsedEntry", "ParsedFile", "ParsedStatement",
           "StatementFileError", "detect_format", "parse_statement_file"]


def parse_statement_file(data: bytes, max_bytes: int | None = None) -> ParsedFile:
    if max_bytes is not None and len(data) > max_bytes:
        raise StatementFileError(_(
            "The file is too large (%(size)s MB); the limit is %(limit)s MB.",
            size=_megabytes(len(data)), limit=_megabytes(max_bytes)), "too_large")
    data = _utf8_xml(data)
    if not data.strip():
        raise StatementFileError(_("The file is empty."), "empty")
    found = detect_format(data)
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") and xml_prolog(data)[0]:
        # Checked before the format: an XXE or "billion laughs" file is named as what it is.
        raise StatementFileError(_(
            "The file declares a document type or entities (<!DOCTYPE ...>). Bank statements "
            "never do; the file was refused for safety and nothing was imported."), "unsafe_xml")
    if found.family == CAMT053:
        return camt053.parse(data)
    if found.family == CODA:
        return coda.parse(data)
    raise StatementFileError(_(
        "This file is %(format)s, not a bank statement we can read. Import a camt.053 "
        "statement (versions .001.02 to .001.13) or a CODA 2 file.", format=found.name),
        "unsupported_format", found.name)


_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])[^"']*(["'])""")


def _utf8_xml(data: bytes) -> bytes:
    """A UTF-16 XML file (Windows tools write them, with or without a byte order mark) as the
    same document in UTF-8; any other file unchanged (UTF-8 with a BOM is read as it is)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        codec = "utf-16"
    elif data[:4] == b"<\x00?\x00":
        codec = "utf-16-le"
    elif data[:4] == b"\x00<\x00?":
        codec = "utf-16-be"
    else:
        return data
    try:
        text = data.decode(codec).lstrip("\ufeff")
    except UnicodeDecodeError:
        raise StatementFileError(_(
            "The file starts as UTF-16 text but is not valid UTF-16; nothing was imported."),
            "malformed") from None
    return _ENCODING.sub(r"\1UTF-8\2", text, count=1).encode("utf-8")


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".rstrip("0").rstrip(".")
