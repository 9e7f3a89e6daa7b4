"""camt.053 (.001.02/.04/.08) and CODA 2 files built from the standards parse as the bank meant.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from app.invoices.references import make_ogm, make_rf
from app.payments.incoming.statements import (
    StatementFileError,
    detect_format,
    parse_statement_file,
)
from tests.payments.statements.builders import (
    ACCOUNT,
    CodaMovement,
    Entry,
    Tx,
    camt053,
    coda,
)

OGM = make_ogm(1234567890)  # 123456789002
RF = make_rf("539007547034")  # RF18539007547034


@pytest.mark.parametrize("version", ["02", "04", "08"])
def test_belgian_structured_reference_and_rf_in_every_version(version):
    data = camt053([
        Entry("121.00", ref="A1", txs=[Tx(strd=[(OGM, "SCOR", "BBA")], name="Jan Peeters",
                                          iban="BE71096123456769", bic="GKCCBEBB")]),
        Entry("80.00", ref="A2", txs=[Tx(strd=[(RF, "SCOR", "ISO")])]),
        Entry("15.00", ref="A3", credit=False, txs=[Tx(name="Supplier", iban="BE68539007547034")]),
    ], version=version)
    parsed = parse_statement_file(data)
    assert parsed.format == f"camt.053.001.{version}"
    ogm, rf, debit = parsed.statements[0].entries
    assert (ogm.structured_reference, ogm.reference_kind) == (OGM, "ogm")
    assert ogm.amount == D("121.00") and isinstance(ogm.amount, D)
    assert ogm.counterparty_name == "Jan Peeters"  # Dbtr/Nm, or Dbtr/Pty/Nm in .08
    assert ogm.counterparty_iban == "BE71096123456769" and ogm.counterparty_bic == "GKCCBEBB"
    assert (rf.structured_reference, rf.reference_kind) == ("RF18539007547034", "rf")
    assert debit.amount == D("-15.00") and debit.counterparty_name == "Supplier"
    statement = parsed.statements[0]
    assert statement.account_iban == ACCOUNT
    # The builder's closing balance is what the entries make of the opening one (it adds up).
    assert (statement.opening_balance, statement.closing_balance) == (D("1000.00"), D("1186.00"))
    assert statement.balance_difference() == 0


def test_an_ogm_with_the_wrong_issuer_is_still_recognised_by_its_check_digits():
    data = camt053([Entry("10.00", txs=[Tx(strd=[(f"+++{OGM[:3]}/{OGM[3:7]}/{OGM[7:]}+++",
                                                  None, None)])])])
    (entry,) = parse_statement_file(data).entries
    assert (entry.structured_reference, entry.reference_kind) == (OGM, "ogm")


def test_free_text_references_are_kept_for_matching():
    texts = [f"+++{OGM[:3]}/{OGM[3:7]}/{OGM[7:]}+++", f"***{OGM[:3]}/{OGM[3:7]}/{OGM[7:]}***",
             f"{OGM[:3]} {OGM[3:7]} {OGM[7:]}", f"{OGM[:3]}/{OGM[3:7]}/{OGM[7:]}",
             "RF18 5390 0754 7034"]
    data = camt053([Entry("10.00", ref=f"T{i}", txs=[Tx(ustrd=[f"Facture {text} merci"])])
                    for i, text in enumerate(texts)])
    entries = parse_statement_file(data).entries
    assert [e.free_text for e in entries] == [f"Facture {text} merci" for text in texts]
    assert all(e.structured_reference is None for e in entries)


@pytest.mark.parametrize("version", ["02", "08"])
def test_a_batch_entry_becomes_one_entry_per_transaction(version):
    data = camt053([Entry("300.00", ref="BATCH-1", txs=[
        Tx(amount="100.00", name="A", strd=[(OGM, "SCOR", "BBA")], end_to_end="E1"),
        Tx(amount="200.00", name="B", ustrd=["invoice F-2"], end_to_end="E2"),
    ], info="GROUPED CREDIT")], version=version)
    first, second = parse_statement_file(data).entries
    assert (first.amount, second.amount) == (D("100.00"), D("200.00"))
    assert (first.counterparty_name, second.counterparty_name) == ("A", "B")
    assert (first.end_to_end_id, second.end_to_end_id) == ("E1", "E2")
    assert (first.batch_position, second.batch_position) == (1, 2)
    assert first.bank_reference == second.bank_reference == "BATCH-1"


def test_a_batch_whose_details_carry_no_amounts_stays_one_entry():
    data = camt053([Entry("300.00", ref="B", txs=[Tx(name="A", ustrd=["one"]),
                                                 Tx(name="B", ustrd=["two"])])])
    (entry,) = parse_statement_file(data).entries
    assert entry.amount == D("300.00")
    assert "one" in entry.free_text and "two" in entry.free_text


def test_reversal_return_reason_mandate_and_status():
    data = camt053([
        Entry("45.00", credit=False, reversal=True, ref="R1", family=("PMNT", "IDDT", "UPDD"),
              txs=[Tx(end_to_end="INV-7", mandate="MANDATE-9", return_reason="MD06")]),
        Entry("99.00", status="PDNG", ref="P1", txs=[Tx(ustrd=["pending"])]),
        Entry("12.00", status="INFO", ref="I1"),
    ], version="08")
    parsed = parse_statement_file(data)
    (entry,) = parsed.entries  # pending and information entries are not booked
    assert parsed.statements[0].skipped == 2
    assert entry.is_reversal and entry.amount == D("-45.00")
    assert (entry.return_reason, entry.mandate_reference, entry.end_to_end_id) == (
        "MD06", "MANDATE-9", "INV-7")
    assert entry.transaction_code == "PMNT/IDDT/UPDD"


def test_versions_02_and_04_give_the_status_as_text():
    data = camt053([Entry("5.00", status="PDNG"), Entry("6.00")], version="04")
    assert [e.amount for e in parse_statement_file(data).entries] == [D("6.00")]


def test_coda_structured_communication_type_101():
    data = coda([CodaMovement("1250.50", ogm=OGM, name="DUPONT SPRL", iban="BE71096123456769",
                              end_to_end="E2E-77"),
                 CodaMovement("-19.99", text="DOMICILIATION ELECTRICITE")])
    assert detect_format(data).name == "CODA 2"
    parsed = parse_statement_file(data)
    assert parsed.format == "coda2"
    credit, debit = parsed.entries
    assert credit.amount == D("1250.50")  # 000000001250500 thousandths
    assert (credit.structured_reference, credit.reference_kind) == (OGM, "ogm")
    assert credit.counterparty_name == "DUPONT SPRL"
    assert credit.counterparty_iban == "BE71096123456769"
    assert credit.end_to_end_id == "E2E-77"
    assert credit.booking_date == date(2025, 3, 3)
    assert debit.amount == D("-19.99") and debit.structured_reference is None
    assert debit.free_text == "DOMICILIATION ELECTRICITE"
    statement = parsed.statements[0]
    assert statement.account_iban == ACCOUNT
    assert statement.opening_balance == D("1000.00")
    assert statement.closing_balance == D("2230.51")


def test_coda_return_record():
    data = coda([CodaMovement("-60.00", text="RETOUR DOMICILIATION", r_type="2", reason="AM04",
                              end_to_end="INV-000123")])
    (entry,) = parse_statement_file(data).entries
    assert entry.return_reason == "AM04" and entry.end_to_end_id == "INV-000123"


def test_coda_sepa_direct_debit_type_127_gives_the_mandate_and_the_return():
    collected, returned = parse_statement_file(coda([
        CodaMovement("75.00", sepa=("BE11ZZZ0403170701", "UMR-2025-0042"), text="INV-9"),
        CodaMovement("-75.00", sepa=("BE11ZZZ0403170701", "UMR-2025-0042"), text="INV-9",
                     r_type="2", reason="MD06", bank_ref="RET-1"),
    ])).entries
    assert collected.mandate_reference == returned.mandate_reference == "UMR-2025-0042"
    assert collected.return_reason is None and collected.free_text == "INV-9"
    assert returned.return_reason == "MD06" and returned.amount == D("-75.00")


def test_coda_version_1_is_refused_naming_the_version():
    with pytest.raises(StatementFileError) as refused:
        parse_statement_file(coda([CodaMovement("1.00")], version="1"))
    assert refused.value.code == "unsupported_version"
    assert "CODA version 1" in refused.value.message


def test_a_wrong_amount_names_the_entry():
    data = camt053([Entry("12,50")])
    with pytest.raises(StatementFileError) as refused:
        parse_statement_file(data)
    assert "Entry 1" in refused.value.message and "12,50" in refused.value.message
