"""The staff request page has everything needed to decide: the customer (360° link), the
invoices concerned, the customer's other open items, labelled details, the attachments (download,
inline preview for PNG/JPEG/PDF only), the mandate signer; and who may decide."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask import g

from app.core.models import utcnow
from app.customers.models import Mandate
from app.extensions import db
from app.portal.auth import create_magic_link, reset_rate_limits, sign
from app.requests import attachments
from app.requests.models import CustomerRequest, Deferral
from tests.backoffice.conftest import session_csrf
from tests.helpers import csrf_token, make_customer, make_invoice
from tests.portal.conftest import csrf_from

pytestmark = pytest.mark.usefixtures("message_templates")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%test\n"


def _request(customer, kind="dispute", invoices=(), payload=None, **fields):
    req = CustomerRequest(customer_id=customer.id, kind=kind, status="received",
                          sla_due_at=utcnow() + timedelta(hours=24), payload=payload or {},
                          **fields)
    req.invoices = list(invoices)
    db.session.add(req)
    db.session.commit()
    return req


def _with_files(req):
    files = [attachments.Upload("photo.png", "image/png", "png", PNG),
             attachments.Upload("invoice.pdf", "application/pdf", "pdf", PDF),
             attachments.Upload("page.html", "text/html", "html", b"<script>alert(1)</script>"),
             attachments.Upload("logo.svg", "image/svg+xml", "svg",
                                b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>")]
    made = attachments.store(req, files)
    db.session.commit()
    return {a.file_name.rsplit(".", 1)[-1]: a for a in made}


def test_the_page_shows_customer_invoices_other_open_items_and_labelled_details(app, staff_client):
    customer = make_customer(name="Brasserie Dupont", language="fr")
    invoice = make_invoice(customer, total="420.00", due_in_days=-12)
    invoice.dunning_level = 2
    other_invoice = make_invoice(customer, total="80.00", due_in_days=-3)
    db.session.add(Deferral(customer_id=customer.id, invoice_id=other_invoice.id,
                            original_due_date=other_invoice.due_date,
                            new_due_date=date.today() + timedelta(days=9), status="active"))
    other = _request(customer, kind="question", subject="Copie de facture")
    req = _request(customer, kind="deferral", invoices=[invoice], subject=invoice.number,
                   payload={"new_due_date": (date.today() + timedelta(days=20)).isoformat(),
                            "invoice_ids": [invoice.id], "total": "420.00"})
    client = staff_client("Read-only")
    client.get("/lang/en")
    html = client.get(f"/requests/queue/{req.id}").get_data(as_text=True)
    assert f'href="/customer360/{customer.id}"' in html
    assert customer.number in html and "Brasserie Dupont" in html
    row = html[html.index(f'id="invoice-{invoice.id}"'):]
    row = row[:row.index("</tr>")]
    assert invoice.number in row and "420.00" in row and "<td>2</td>" in row and "Open" in row
    assert f"/requests/queue/{other.id}" in html and "Copie de facture" in html
    assert "Deferral: invoice " + other_invoice.number in html
    assert "New due date asked for" in html and "Total concerned" in html
    assert '"invoice_ids"' not in html and "{&#34;" not in html  # no JSON


def test_read_only_cannot_decide_an_ar_clerk_can(app, staff_client):
    customer = make_customer()
    req = _request(customer, kind="question", subject="Hello")
    reader = staff_client("Read-only")
    page = reader.get(f"/requests/queue/{req.id}").get_data(as_text=True)
    assert 'id="decide-form"' not in page
    refused = reader.post(f"/requests/queue/{req.id}/decide",
                          data={"decision": "approve", "csrf_token": session_csrf(app, reader)})
    assert refused.status_code in (302, 403)
    db.session.expire_all()
    assert db.session.get(CustomerRequest, req.id).status == "received"
    clerk = staff_client("AR clerk")
    token = csrf_token(clerk.get(f"/requests/queue/{req.id}").get_data(as_text=True))
    done = clerk.post(f"/requests/queue/{req.id}/decide",
                      data={"decision": "approve", "csrf_token": token})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(CustomerRequest, req.id).status == "approved"


def test_attachments_png_and_pdf_preview_inline_html_and_svg_never(app, staff_client):
    customer = make_customer()
    req = _request(customer, subject="F-1")
    files = _with_files(req)
    client = staff_client("AR clerk")
    html = client.get(f"/requests/queue/{req.id}").get_data(as_text=True)
    base = f"/requests/queue/{req.id}/attachments"
    assert f"{base}/{files['png'].id}?inline=1" in html
    assert f"{base}/{files['pdf'].id}?inline=1" in html
    assert f"{base}/{files['html'].id}?inline=1" not in html
    for kind, body in (("png", PNG), ("pdf", PDF)):
        shown = client.get(f"{base}/{files[kind].id}?inline=1")
        assert shown.status_code == 200 and shown.data == body
        assert shown.headers["Content-Disposition"].startswith("inline")
        assert shown.headers["X-Content-Type-Options"] == "nosniff"
        assert shown.mimetype == files[kind].content_type
        download = client.get(f"{base}/{files[kind].id}")
        assert download.headers["Content-Disposition"].startswith("attachment")
    for kind in ("html", "svg"):
        forced = client.get(f"{base}/{files[kind].id}?inline=1")
        assert forced.status_code == 200
        assert forced.headers["Content-Disposition"].startswith("attachment")
        assert forced.mimetype == "application/octet-stream"
        assert forced.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in forced.headers["Content-Security-Policy"]


def test_a_png_whose_bytes_are_not_a_png_is_not_shown_inline(app, staff_client):
    customer = make_customer()
    req = _request(customer, subject="F-2")
    [fake] = attachments.store(req, [attachments.Upload("x.png", "image/png", "png",
                                                        b"<html><script>1</script>")])
    db.session.commit()
    response = staff_client("AR clerk").get(
        f"/requests/queue/{req.id}/attachments/{fake.id}?inline=1")
    assert response.headers["Content-Disposition"].startswith("attachment")


def test_attachments_refused_to_anonymous_other_requests_and_other_customers(app, staff_client):
    owner, stranger = make_customer(), make_customer()
    req = _request(owner, subject="F-3")
    other_req = _request(stranger, subject="F-4")
    files = _with_files(req)
    url = f"/requests/queue/{req.id}/attachments/{files['png'].id}?inline=1"
    anonymous = app.test_client().get(url)
    assert anonymous.status_code in (302, 401, 403) and anonymous.data != PNG
    # The attachment only through its own request.
    wrong = staff_client("AR clerk").get(
        f"/requests/queue/{other_req.id}/attachments/{files['png'].id}")
    assert wrong.status_code == 404
    # A signed-in customer: not through the staff route, not another customer's in the portal.
    reset_rate_limits()
    for name in ("_login_user", "user", "csrf_token"):  # the test's one app context
        g.pop(name, None)
    link = f"/portal/login/{sign(create_magic_link(stranger, None, None, None))}"
    db.session.commit()
    portal = app.test_client()
    confirm = portal.get(link)
    portal.post(link, data={"csrf_token": csrf_from(confirm.get_data(as_text=True))})
    assert portal.get(url).data != PNG
    assert portal.get(f"/portal/attachments/{files['png'].id}").status_code == 404


def test_a_mandate_shows_the_signer_and_warns_when_it_is_someone_else(app, staff_client):
    customer = make_customer(name="Marie Dupont")
    mandate = Mandate(customer_id=customer.id, reference="CD-TEST-0001", status="pending",
                      signature_name="Jean Martin")
    same = Mandate(customer_id=customer.id, reference="CD-TEST-0002", status="pending",
                   signature_name="marie  DUPONT")
    db.session.add_all([mandate, same])
    db.session.commit()
    req = _request(customer, kind="mandate", payload={"mandate_id": mandate.id,
                                                      "action": "sign"})
    ok = _request(customer, kind="mandate", payload={"mandate_id": same.id, "action": "sign"})
    client = staff_client("AR clerk")
    html = client.get(f"/requests/queue/{req.id}").get_data(as_text=True)
    assert "Jean Martin" in html and 'id="signer-differs"' in html
    html = client.get(f"/requests/queue/{ok.id}").get_data(as_text=True)
    assert 'id="mandate-signer"' in html and 'id="signer-differs"' not in html


def test_details_of_an_unknown_kind_are_labelled_not_json():
    from app.requests.models import DISPUTE_REASONS
    from app.requests.payload_details import details

    rows = dict(details({"amount": "12.50", "iban_last4": "1234", "invoice_ids": [1],
                         "fields": ["email", "phone"]}, DISPUTE_REASONS))
    assert "1234" in rows.values() and "email, phone" in rows.values()
    assert all("invoice_ids" not in label for label in rows)
    assert Decimal("12.50")  # money formatted by the locale (checked on the page above)


def test_the_deferral_this_request_made_is_not_listed_as_another_open_item(app, staff_client):
    customer = make_customer(language="en")
    first = make_invoice(customer, total="100.00", due_in_days=-3)
    second = make_invoice(customer, total="200.00", due_in_days=-3)
    req = _request(customer, kind="deferral", invoices=[first])
    other = _request(customer, kind="deferral", invoices=[second])
    req.status = other.status = "approved"
    for owner, invoice in ((req, first), (other, second)):
        db.session.add(Deferral(customer_id=customer.id, invoice_id=invoice.id,
                                request_id=owner.id, original_due_date=invoice.due_date,
                                new_due_date=invoice.due_date + timedelta(days=20),
                                status="active"))
    db.session.commit()
    html = staff_client("Read-only").get(f"/requests/queue/{req.id}").get_data(as_text=True)
    others = html.split('id="other-open"', 1)[1].split("</ul>", 1)[0]
    assert second.number in others and first.number not in others
