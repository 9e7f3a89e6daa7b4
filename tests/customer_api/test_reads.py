"""Reading through the customer API: the portal's figures, pages, documents, ETags."""
from __future__ import annotations

from app.accounts import overview
from app.extensions import db


def test_balance_is_the_portal_dashboards_figure(api):
    body = api.get("/balance").get_json()
    board = overview.dashboard(api.customer)
    assert body["balance"] == "450.00" == str(board.balance_due)
    assert body["overdue_count"] == 1 and body["overdue_amount"] == "300.00"
    assert body["next_due"]["number"] == api.invoices[1].number


def test_invoices_are_paged_with_a_cursor_and_filtered(api):
    first = api.get("/invoices?limit=1").get_json()
    assert [i["number"] for i in first["items"]] == [api.invoices[0].number]
    second = api.client.get(first["links"]["next"], headers=api.headers()).get_json()
    assert [i["number"] for i in second["items"]] == [api.invoices[1].number]
    assert "next" not in second["links"]
    overdue = api.get("/invoices?status=overdue").get_json()["items"]
    assert [(i["number"], i["status"]) for i in overdue] == [(api.invoices[0].number, "overdue")]
    assert api.get("/invoices?status=paid").get_json()["items"] == []


def test_bad_paging_input_is_a_translated_problem(api):
    answer = api.get("/invoices?cursor=%%%", headers={"Accept-Language": "fr"})
    assert answer.status_code == 400
    assert answer.mimetype == "application/problem+json"
    problem = answer.get_json()
    assert problem["status"] == 400 and "cursor" in problem["errors"]
    assert api.get("/invoices?limit=0").status_code == 400
    assert api.get("/invoices?status=late").status_code == 400


def test_etag_answers_304_until_the_invoice_changes(api):
    invoice = api.invoices[0]
    first = api.get(f"/invoices/{invoice.id}")
    etag = first.headers["ETag"]
    again = api.get(f"/invoices/{invoice.id}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    invoice.description = "Boiler and pipes"
    db.session.commit()
    changed = api.get(f"/invoices/{invoice.id}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.get_json()["description"] == "Boiler and pipes"


def test_invoice_json_pdf_instructions_and_qr(api):
    invoice = api.invoices[0]
    body = api.get(f"/invoices/{invoice.id}").get_json()
    assert body["status"] == "overdue" and body["payable_now"] == "300.00"
    assert body["reminder_level"] == 0 and body["deferral"] is None and not body["in_payment_plan"]
    pdf = api.get(f"/invoices/{invoice.id}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    pay = api.get(f"/invoices/{invoice.id}/payment-instructions").get_json()
    assert pay["iban"].replace(" ", "") == "BE68539007547034"
    assert pay["structured_communication"].startswith("+++")
    png = api.get(f"/invoices/{invoice.id}/qr.png")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    svg = api.get(f"/invoices/{invoice.id}/qr.svg")
    assert svg.status_code == 200 and b"<svg" in svg.data


def test_statement_in_three_formats(api):
    body = api.get("/statement").get_json()
    assert body["closing_balance"] == "450.00"
    assert {line["reference"] for line in body["lines"]} >= {i.number for i in api.invoices}
    csv = api.get("/statement?format=csv")
    assert csv.status_code == 200 and api.invoices[0].number.encode() in csv.data
    assert api.get("/statement?format=pdf").data.startswith(b"%PDF")
    assert api.get("/statement?from=2026-02-01&to=2026-01-01").status_code == 400


def test_openapi_document_and_swagger_ui_without_cdn(client):
    spec = client.get("/api/customer/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and "/balance" in spec["paths"]
    page = client.get("/api/customer/v1/docs").get_data(as_text=True)
    assert "swagger-ui-bundle.js" in page and "http" not in page.replace("http-equiv", "")
    script = client.get("/api/customer/v1/docs/init.js")
    assert script.status_code == 200 and b"openapi.json" in script.data


def e_invoice(invoice, status="sent", xml=None):
    """An e-invoice document made for ``invoice`` (what app.einvoicing stores when it sends)."""
    from app.einvoicing.models import EDocument

    document = EDocument(direction="out", doc_type="invoice", number=invoice.number,
                         status=status, customer_id=invoice.customer_id, invoice_id=invoice.id,
                         xml=xml or f"<Invoice><cbc:ID>{invoice.number}</cbc:ID></Invoice>")
    db.session.add(document)
    db.session.commit()
    return document


def test_invoice_ubl_when_an_e_invoice_exists_else_404(api):
    sent, without = api.invoices
    e_invoice(sent)
    answer = api.get(f"/invoices/{sent.id}.xml")
    assert answer.status_code == 200 and answer.mimetype == "application/xml"
    assert f"<cbc:ID>{sent.number}</cbc:ID>" in answer.get_data(as_text=True)
    negotiated = api.get(f"/invoices/{sent.id}", headers={"Accept": "application/xml"})
    assert negotiated.data == answer.data
    assert api.get(f"/invoices/{sent.id}").is_json  # JSON stays the default
    # the link is given only where a document exists
    assert api.get(f"/invoices/{sent.id}").get_json()["links"]["ubl"].endswith(f"{sent.id}.xml")
    assert "ubl" not in api.get(f"/invoices/{without.id}").get_json()["links"]
    listed = {i["id"]: i["links"] for i in api.get("/invoices").get_json()["items"]}
    assert "ubl" in listed[sent.id] and "ubl" not in listed[without.id]
    missing = api.get(f"/invoices/{without.id}.xml")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert api.get(f"/invoices/{without.id}",
                   headers={"Accept": "application/xml"}).status_code == 404
    e_invoice(without, status="held")  # does not validate: never handed out
    assert api.get(f"/invoices/{without.id}.xml").status_code == 404
