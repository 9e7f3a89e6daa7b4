"""Staff screens: held e-invoices show their failed rule ids; Peppol addresses are checked."""
from __future__ import annotations

from sqlalchemy import select

from app.einvoicing.models import CustomerPeppol, EDocument
from app.extensions import db
from tests.einvoicing.conftest import approved_credit_note, business
from tests.helpers import csrf_for


def test_staff_see_held_documents_with_their_failed_rules(app, staff_client):
    note = approved_credit_note(app, business("BE"), "50.00")
    db.session.add(EDocument(direction="out", doc_type="credit_note", number=note.number,
                             sender="", customer_id=note.customer_id, credit_note_id=note.id,
                             status="held", failed_rules=["BR-CO-16", "PEPPOL-EN16931-R003"],
                             findings=[]))
    db.session.commit()
    page = staff_client("AR clerk").get("/edocumentview/list/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert note.number in html and "BR-CO-16, PEPPOL-EN16931-R003" in html


def test_a_wrong_peppol_identifier_is_refused_and_nothing_stored(app, staff_client):
    customer = business("BE")
    client = staff_client("Credit manager")
    response = client.post("/customerpeppolview/add", data={
        "csrf_token": csrf_for(client), "customer": str(customer.id),
        "endpoint_scheme": "0208", "endpoint_id": "0403170702", "buyer_reference": ""},
        follow_redirects=True)
    assert response.status_code == 200
    assert "0208:0403170702 is not valid" in response.get_data(as_text=True)
    assert db.session.scalar(select(CustomerPeppol.id)) is None

    response = client.post("/customerpeppolview/add", data={
        "csrf_token": csrf_for(client), "customer": str(customer.id),
        "endpoint_scheme": "9925", "endpoint_id": "BE0403170701", "buyer_reference": "PO-1"},
        follow_redirects=True)
    row = db.session.scalar(select(CustomerPeppol))
    assert (row.endpoint_scheme, row.endpoint_id, row.buyer_reference) == \
        ("9925", "BE0403170701", "PO-1")


def test_french_business_credit_notes_download_as_factur_x(app, staff_client):
    import io

    import facturx
    from lxml import etree
    from pypdf import PdfReader

    from app.einvoicing.outgoing import credit_note_xml

    note = approved_credit_note(app, business("FR"), "120.00")
    document = EDocument(direction="out", doc_type="credit_note", number=note.number, sender="",
                         customer_id=note.customer_id, credit_note_id=note.id, status="ready",
                         xml=credit_note_xml(note).decode(), failed_rules=[], findings=[])
    belgian = approved_credit_note(app, business("BE"), "30.00")
    other = EDocument(direction="out", doc_type="credit_note", number=belgian.number, sender="",
                      customer_id=belgian.customer_id, credit_note_id=belgian.id,
                      status="ready", failed_rules=[], findings=[])
    db.session.add_all([document, other])
    db.session.commit()
    client = staff_client("AR clerk")

    response = client.get(f"/edocumentview/facturx/{document.id}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pdf = response.get_data()
    name, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert name == "factur-x.xml"
    root = etree.fromstring(xml)
    assert facturx.get_level(root) == "en16931"
    ram = "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}"
    assert root.findtext(f".//{ram}GrandTotalAmount") == "120.00"
    assert root.findtext(".//{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}"
                         f"ExchangedDocument/{ram}TypeCode") == "381"
    assert "120" in "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)

    refused = client.get(f"/edocumentview/facturx/{other.id}", follow_redirects=True)
    assert "Factur-X is for French business customers" in refused.get_data(as_text=True)
