"""Files that are not statements we read, or that attack the parser, are refused with a message
that says why, and nothing is stored."""
from __future__ import annotations

import pytest

from app.payments.incoming.importing import import_statement
from app.payments.incoming.statements import StatementFileError, parse_statement_file
from tests.payments.statements.builders import Entry, Tx, camt053
from tests.payments.statements.conftest import state

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"

XXE = (b'<?xml version="1.0"?>\n<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       b'<Document xmlns="' + NS.encode() + b'"><BkToCstmrStmt><Stmt><Id>&xxe;</Id></Stmt>'
       b'</BkToCstmrStmt></Document>')
BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'.encode()
               for i in range(1, 10))
    + b']><Document xmlns="' + NS.encode() + b'"><BkToCstmrStmt><Stmt><Id>&lol9;</Id>'
    b'</Stmt></BkToCstmrStmt></Document>')


@pytest.mark.parametrize("data", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_dtds_and_entities_are_refused_and_nothing_is_stored(data):
    before = state()
    with pytest.raises(StatementFileError) as refused:
        parse_statement_file(data)
    assert refused.value.code == "unsafe_xml"
    assert "DOCTYPE" in refused.value.message
    report = import_statement(data, "evil.xml")
    assert report.error_code == "unsafe_xml" and "refused for safety" in report.error
    assert not report.committed
    assert state() == before


def test_a_doctype_after_a_long_comment_is_still_refused_by_the_parser():
    padding = b"<!--" + b"x" * 70000 + b"-->"
    data = b'<?xml version="1.0"?>' + padding + XXE[len(b'<?xml version="1.0"?>\n'):]
    with pytest.raises(StatementFileError) as refused:
        parse_statement_file(data)
    assert refused.value.code == "unsafe_xml"


def test_too_large_files_are_refused_before_parsing():
    data = camt053([Entry("1.00", txs=[Tx(ustrd=["x" * 100])])] * 50)
    with pytest.raises(StatementFileError) as refused:
        parse_statement_file(data, max_bytes=1000)
    assert refused.value.code == "too_large" and "limit" in refused.value.message
    before = state()
    report = import_statement(data, "big.xml", max_bytes=1000)
    assert report.error_code == "too_large"
    assert state() == before


@pytest.mark.parametrize("data,named", [
    ((b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08">'
      b"<BkToCstmrAcctRpt/></Document>"), "camt.052.001.08 (intraday account report)"),
    ((b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"><CstmrDrctDbtInitn/>'
      b"</Document>"), "pain.008.001.02 (direct debit order)"),
    ((b"{1:F01BANKBEBBAXXX0000000000}{4:\r\n:20:STMT\r\n:25:BE68539007547034\r\n:28C:1\r\n"
      b":60F:C250303EUR1000,00\r\n-}"), "MT940"),
    (b"date;amount;text\r\n2025-03-03;12,50;x\r\n", "CSV"),
    (b"<html><body>not a statement</body></html>", "XML <html>"),
    (b"\x00\x01\x02 binary", "unknown"),
], ids=["camt052", "pain008", "mt940", "csv", "html", "binary"])
def test_other_formats_are_refused_naming_the_format_found(data, named):
    with pytest.raises(StatementFileError) as refused:
        parse_statement_file(data)
    assert refused.value.code == "unsupported_format"
    assert named in refused.value.message
    assert refused.value.format_found.startswith(named.split(" (")[0])


def test_malformed_xml_says_where():
    data = camt053([Entry("1.00")]).replace(b"</Stmt>", b"</Stmt", 1)
    with pytest.raises(StatementFileError) as refused:
        parse_statement_file(data)
    assert "not well-formed" in refused.value.message and "line" in refused.value.message


def test_an_empty_file_is_refused():
    with pytest.raises(StatementFileError) as refused:
        parse_statement_file(b"  \r\n")
    assert refused.value.code == "empty"


def test_an_unsupported_camt053_version_is_named():
    data = camt053([Entry("1.00")]).replace(b"camt.053.001.08", b"camt.053.001.01")
    with pytest.raises(StatementFileError) as refused:
        parse_statement_file(data)
    assert refused.value.code == "unsupported_version"
    assert "camt.053.001.01" in refused.value.message
