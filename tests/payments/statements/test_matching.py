"""The matching rules, in order, each with its confidence; what is sure is booked, the rest
waits with a suggestion."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import select

from app.customers.models import BankAccount, Mandate
from app.extensions import db
from app.invoices.references import find_references, format_ogm, format_rf, make_ogm
from app.payments.incoming.importing import import_statement
from app.payments.incoming.models import StatementLine
from tests.helpers import make_customer, make_invoice
from tests.payments.statements.builders import Entry, Tx, camt053
from tests.payments.statements.conftest import fresh


def _import(*entries: Entry) -> list[StatementLine]:
    report = import_statement(camt053(list(entries)), "test.xml")
    assert report.ok, report.error
    return list(db.session.scalars(select(StatementLine).order_by(StatementLine.id)))


def _entry(amount, n=0, **tx) -> Entry:
    tx.setdefault("iban", None)
    return Entry(str(amount), ref=f"M{n}", txs=[Tx(**tx)])


def _decided(line: StatementLine) -> tuple[str, str | None, D | None]:
    return line.status, line.match_rule, line.match_confidence


def test_structured_reference_ogm_and_rf(invoices):
    first, second = invoices[:2]
    lines = _import(_entry("121.00", 1, strd=[(first.structured_reference, "SCOR", "BBA")]),
                    _entry("250.00", 2, strd=[(second.rf_reference, "SCOR", "ISO")]))
    assert [_decided(line) for line in lines] == [
        ("matched", "structured_reference", D("0.990")),
        ("matched", "structured_reference", D("0.990"))]
    assert fresh(first).status == fresh(second).status == "paid"


@pytest.mark.parametrize("written", ["+++{a}/{b}/{c}+++", "***{a}/{b}/{c}***", "{a} {b} {c}",
                                     "{a}/{b}/{c}", "{a}{b}{c}", "+++ {a} / {b} / {c} +++"])
def test_ogm_typed_in_the_free_text(invoices, written):
    ogm = invoices[0].structured_reference
    text = "Paiement facture " + written.format(a=ogm[:3], b=ogm[3:7], c=ogm[7:]) + " merci"
    (line,) = _import(_entry("121.00", ustrd=[text]))
    assert _decided(line) == ("matched", "reference_in_text", D("0.950"))
    assert fresh(invoices[0]).status == "paid"


def test_rf_reference_typed_with_spaces(invoices):
    (line,) = _import(_entry("80.00", ustrd=[f"ref. {format_rf(invoices[2].rf_reference)}"]))
    assert _decided(line) == ("matched", "reference_in_text", D("0.950"))
    assert fresh(invoices[2]).status == "paid"


def test_invoice_number_in_the_free_text(invoices):
    exact, partial = _import(_entry("250.00", 1, ustrd=[f"Facture {invoices[1].number}"]),
                             _entry("20.00", 2, ustrd=[f"acompte {invoices[2].number}"]))
    assert _decided(exact) == ("matched", "invoice_number", D("0.950"))
    # A number in free text could be another number: without the right amount, a person
    # confirms (it is proposed, not booked).
    assert _decided(partial) == ("suggested", "invoice_number", D("0.800"))
    assert partial.suggestion["invoice_ids"] == [invoices[2].id]
    assert "amount_differs" in partial.suggestion["notes"]
    assert fresh(invoices[2]).open_amount == D("80.00")


def test_direct_debit_end_to_end_id_names_the_invoice(invoices):
    (line,) = _import(_entry("250.00", end_to_end=invoices[1].number, mandate="UMR-UNKNOWN",
                             ustrd=["SEPA DD"]))
    assert _decided(line) == ("matched", "end_to_end_id", D("0.950"))
    assert fresh(invoices[1]).status == "paid"
    assert line.payment.method == "direct_debit"


def test_known_mandate_pays_the_invoice_of_that_amount(customer, invoices):
    db.session.add(Mandate(customer=customer, reference="UMR-DUPONT-1", status="active"))
    db.session.commit()
    (line,) = _import(_entry("250.00", mandate="UMR-DUPONT-1", end_to_end="COLL-9"))
    assert _decided(line) == ("matched", "mandate", D("0.900"))
    assert fresh(invoices[1]).status == "paid"


def test_known_iban_with_amount_is_suggested_not_booked(customer, invoices):
    db.session.add(BankAccount(customer=customer, iban="BE71096123456769", status="active"))
    db.session.commit()
    same, other = _import(_entry("250.00", 1, iban="BE71096123456769", ustrd=["merci"]),
                          _entry("13.00", 2, iban="BE71096123456769", ustrd=["merci"]))
    assert _decided(same) == ("suggested", "iban_and_amount", D("0.800"))
    assert same.suggestion["invoice_ids"] == [invoices[1].id]
    assert same.customer_id == customer.id
    assert _decided(other) == ("suggested", "known_iban", D("0.500"))
    assert fresh(invoices[1]).status == "open"


def test_an_iban_paid_from_before_is_known(customer, invoices):
    _import(_entry("121.00", 1, iban="BE71096123456769",
                   strd=[(invoices[0].structured_reference, "SCOR", "BBA")]))
    report = import_statement(camt053([_entry("250.00", 2, iban="BE71096123456769")],
                                      statement_id="next"), "next.xml")
    assert report.suggested.count == 1


def test_the_structured_reference_comes_before_an_invoice_number(customer, invoices):
    other_customer = make_customer()
    stranger = make_invoice(other_customer, "80.00")
    (line,) = _import(_entry("121.00", strd=[(invoices[0].structured_reference, "SCOR", "BBA")],
                             ustrd=[f"also {stranger.number}"]))
    assert _decided(line) == ("matched", "structured_reference", D("0.990"))
    assert fresh(stranger).status == "open"


def test_references_to_two_customers_wait_for_a_person(invoices):
    stranger = make_invoice(make_customer(), "80.00")
    ogm = stranger.structured_reference
    (line,) = _import(_entry("201.00", strd=[(invoices[0].structured_reference, "SCOR", "BBA")],
                             ustrd=[format_ogm(ogm)]))
    assert _decided(line) == ("suggested", "structured_reference", D("0.600"))
    assert "several_customers" in line.suggestion["notes"]


def test_a_paid_invoice_reference_is_a_question_for_a_person(invoices):
    ogm = invoices[0].structured_reference
    _import(_entry("121.00", 1, strd=[(ogm, "SCOR", "BBA")]))
    report = import_statement(camt053([_entry("121.00", 2, strd=[(ogm, "SCOR", "BBA")])],
                                      statement_id="twice"), "twice.xml")
    assert report.suggested.count == 1
    line = db.session.scalar(select(StatementLine).where(StatementLine.match_confidence
                                                         == D("0.600")))
    assert "not_open" in line.suggestion["notes"]


def test_a_foreign_currency_payment_is_not_booked(invoices):
    data = camt053([_entry("121.00", strd=[(invoices[0].structured_reference, "SCOR", "BBA")])]
                   ).replace(b'Ccy="EUR">121.00', b'Ccy="CHF">121.00', 1)
    report = import_statement(data, "chf.xml")
    assert report.matched.count == 0 and report.suggested.count == 1
    assert fresh(invoices[0]).status == "open"


def test_nothing_found_is_unmatched():
    (line,) = _import(_entry("42.00", ustrd=["Voorschot"]))
    assert _decided(line) == ("unmatched", None, None)


def test_free_text_references_are_found_only_standing_alone():
    ogm = make_ogm(1234567890)
    assert find_references(f"pay +++{ogm[:3]}/{ogm[3:7]}/{ogm[7:]}+++ and RF18 5390 0754 7034") \
        == [("ogm", ogm), ("rf", "RF18539007547034")]
    # Inside a longer number (a bank or Swiss reference) it is not a structured communication.
    assert find_references(f"ref 9{ogm}7 done") == []
    assert find_references("RF18 5390 0754 7035") == []  # wrong check digits
    assert find_references("RF18539007547034THANKS") == []
