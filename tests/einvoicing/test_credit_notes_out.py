"""Credit notes out as Peppol BIS 3.0 UBL: every produced document passes the official kit."""
from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from lxml import etree

from app.core.settings import set_setting
from app.core.validation import ValidationError
from app.einvoicing.models import CustomerPeppol
from app.einvoicing.outgoing import (
    KIT_UNAVAILABLE_RULE,
    NOT_BUILT_RULE,
    credit_note_xml,
    produce_credit_note_documents,
)
from app.extensions import db
from tests.einvoicing.conftest import (
    approved_credit_note,
    business,
    invoice_with_lines,
    kit_report,
)
from tests.helpers import make_customer

NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}


def _xml(document):
    return etree.fromstring(document.xml.encode())


def _text(tree, path):
    return tree.findtext(path, namespaces=NS)


def test_credit_notes_to_be_nl_fr_customers_pass_the_official_validator(app, tmp_path):
    be = business("BE")
    two_rates = invoice_with_lines(be, [("121.00", "21"), ("106.00", "6")])
    full = approved_credit_note(app, be, "227.00", two_rates, reason="Retour marchandise")
    partial = approved_credit_note(app, be, "50.00", None, reason="Remise")
    partial.invoice = two_rates  # a second note crediting part of the same invoice
    nl = business("NL")
    reverse_charge = invoice_with_lines(nl, [("1000.00", "0")])
    dutch = approved_credit_note(app, nl, "400.00", reverse_charge, reason="Korting")
    fr = business("FR")
    french = approved_credit_note(app, fr, "120.00", reason="Geste commercial")
    be_vat_endpoint = business("BE", vat_number="BE0123456749")
    db.session.add(CustomerPeppol(customer=be_vat_endpoint, endpoint_scheme="9925",
                                  endpoint_id="BE0123456749", buyer_reference="PO-7781"))
    db.session.commit()
    own_endpoint = approved_credit_note(app, be_vat_endpoint, "60.50")

    notes = [full, partial, dutch, french, own_endpoint]
    documents = produce_credit_note_documents(notes)
    db.session.commit()

    assert [(d.status, d.failed_rules) for d in documents] == [("ready", [])] * 5
    # The test asks the kit itself too: 0 fatal on every file.
    paths = []
    for document in documents:
        path = tmp_path / f"{document.number}.xml"
        path.write_text(document.xml, encoding="utf-8")
        paths.append(path)
    report = kit_report(paths)
    assert {name: (entry["valid"], entry["fatal"]) for name, entry in report.items()} == \
        {path.name: (True, 0) for path in paths}

    by_note = {d.credit_note_id: _xml(d) for d in documents}
    tree = by_note[full.id]
    assert tree.find("cbc:EndpointID", NS) is None  # only parties carry endpoints
    buyer = tree.find("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", NS)
    assert (buyer.get("schemeID"), buyer.text) == ("0208", "0403170701")
    assert _text(tree, "cbc:ProfileID") == "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
    assert _text(tree, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == \
        two_rates.number
    assert _text(tree, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "227.00"
    rates = {(_text(s, "cac:TaxCategory/cbc:Percent"), _text(s, "cbc:TaxableAmount"),
              _text(s, "cbc:TaxAmount")) for s in tree.iterfind("cac:TaxTotal/cac:TaxSubtotal", NS)}
    assert rates == {("21.00", "100.00", "21.00"), ("6.00", "100.00", "6.00")}
    ogm = two_rates.structured_reference
    assert _text(tree, "cac:PaymentMeans/cbc:PaymentID") == \
        f"+++{ogm[:3]}/{ogm[3:7]}/{ogm[7:]}+++"
    assert _text(tree, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == "BE04068246137931"
    pdf = base64.b64decode(_text(tree, "cac:AdditionalDocumentReference/cac:Attachment/"
                                       "cbc:EmbeddedDocumentBinaryObject"))
    assert pdf.startswith(b"%PDF-")

    # A partial credit note credits each rate in the invoice's proportions.
    tree = by_note[partial.id]
    grosses = sorted(Decimal(_text(s, "cbc:TaxableAmount")) + Decimal(_text(s, "cbc:TaxAmount"))
                     for s in tree.iterfind("cac:TaxTotal/cac:TaxSubtotal", NS))
    assert grosses == [Decimal("23.35"), Decimal("26.65")]
    assert _text(tree, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "50.00"

    tree = by_note[dutch.id]
    buyer = tree.find("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", NS)
    assert (buyer.get("schemeID"), buyer.text) == ("9944", "NL004495445B01")
    assert _text(tree, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID") == "AE"

    tree = by_note[french.id]
    buyer = tree.find("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", NS)
    assert (buyer.get("schemeID"), buyer.text) == ("9957", "FR40303265045")
    assert _text(tree, "cac:TaxTotal/cbc:TaxAmount") == "20.83"  # default 21 % on 120.00

    tree = by_note[own_endpoint.id]
    buyer = tree.find("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", NS)
    assert (buyer.get("schemeID"), buyer.text) == ("9925", "BE0123456749")
    assert _text(tree, "cbc:BuyerReference") == "PO-7781"


def test_a_business_without_peppol_address_is_refused_with_a_message(app):
    anonymous = make_customer(kind="company", name="Sans Numéro SRL", country="BE")
    note = approved_credit_note(app, anonymous, "30.00")
    with pytest.raises(ValidationError) as refused:
        credit_note_xml(note)
    assert "has no Peppol address" in str(refused.value)
    [document] = produce_credit_note_documents([note])
    assert document.status == "held"
    assert document.failed_rules == [NOT_BUILT_RULE]
    assert "has no Peppol address" in document.note
    assert document.xml is None


def test_private_persons_get_no_e_invoice(app):
    person = make_customer(kind="person", vat_number=None)
    note = approved_credit_note(app, person, "10.00")
    with pytest.raises(ValidationError, match="private person"):
        credit_note_xml(note)


def test_a_document_the_kit_refuses_is_held_with_its_rule_ids(app):
    # A GLN with a wrong check digit: built, but Peppol rule R040 refuses it.
    set_setting("einvoicing.seller_endpoint", "0088:1234567890123")
    note = approved_credit_note(app, business("BE"), "80.00")
    [document] = produce_credit_note_documents([note])
    db.session.commit()
    assert document.status == "held"
    assert document.failed_rules == ["PEPPOL-COMMON-R040"]
    assert document.findings[0]["flag"] == "fatal"

    # Staff fix the setting: the held document is rebuilt and becomes ready.
    set_setting("einvoicing.seller_endpoint", "")
    [again] = produce_credit_note_documents([note])
    assert again.id == document.id
    assert (again.status, again.failed_rules) == ("ready", [])


def test_without_the_validator_nothing_becomes_ready(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "PEPPOL_VALIDATOR", str(tmp_path / "missing" / "validate"))
    note = approved_credit_note(app, business("BE"), "80.00")
    [document] = produce_credit_note_documents([note])
    assert document.status == "held"
    assert document.failed_rules == [KIT_UNAVAILABLE_RULE]
