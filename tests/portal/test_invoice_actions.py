"""Portal pages for deferral, payment plan and dispute: forms, CSRF, uploads, scoping."""
from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.requests.models import Attachment, CustomerRequest, Deferral, Dispute, PaymentPlan
from tests.helpers import make_customer, make_invoice
from tests.portal.conftest import csrf_from
from tests.requests.self_service_support import same_day  # noqa: F401

pytestmark = pytest.mark.usefixtures("same_day")

TODAY = date.today()
PDF = b"%PDF-1.4\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def notices(app):
    from app.notifications.defaults import install_defaults

    install_defaults()
    db.session.commit()


@pytest.fixture
def signed_in(portal_client, notices):
    customer = make_customer(name="Jeanne Peeters", email="jeanne@example.test", language="en")
    invoice = make_invoice(customer, total="300.00", due_in_days=-10, description="Boiler")
    second = make_invoice(customer, total="150.00", due_in_days=-3)
    return portal_client(customer), customer, invoice, second


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _token(client, url):
    return csrf_from(client.get(url).get_data(as_text=True))


def test_invoice_page_links_to_the_three_actions(signed_in):
    client, _customer, invoice, _second = signed_in
    body = client.get(f"/portal/invoices/{invoice.id}").get_data(as_text=True)
    assert f"/portal/invoices/{invoice.id}/deferral" in body
    assert f"/portal/plan?invoice={invoice.id}" in body
    assert f"/portal/invoices/{invoice.id}/dispute" in body
    dashboard = client.get("/portal/").get_data(as_text=True)
    assert "/portal/deferral" in dashboard and "/portal/plan" in dashboard


def test_deferral_from_the_invoice_page_is_approved_and_shown(signed_in):
    client, _customer, invoice, _second = signed_in
    url = f"/portal/invoices/{invoice.id}/deferral"
    new_due = TODAY + timedelta(days=10)
    response = client.post(url, data={"csrf_token": _token(client, url),
                                      "new_due_date": new_due.isoformat()})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Approved: you can pay by" in page and invoice.number in page
    [deferral] = db.session.scalars(select(Deferral)).all()
    assert deferral.invoice_id == invoice.id and deferral.new_due_date == new_due
    assert "Deferred" in client.get(f"/portal/invoices/{invoice.id}").get_data(as_text=True)


def test_deferral_of_several_invoices_outside_the_rules_tells_why(signed_in):
    client, _customer, invoice, second = signed_in
    from app.core.settings import set_setting

    set_setting("self_service.deferral.max_amount", "100.00")
    db.session.commit()
    token = _token(client, "/portal/deferral")
    response = client.post("/portal/deferral", data={
        "csrf_token": token, "invoices": [str(invoice.id), str(second.id)],
        "new_due_date": (TODAY + timedelta(days=10)).isoformat()})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "sent to our team" in page
    assert "A deferral is approved at once up to €100.00; yours is for €450.00." in page
    assert _count(Deferral) == 0 and _count(CustomerRequest) == 1


def test_deferral_bad_date_is_shown_and_nothing_changes(signed_in):
    client, _customer, invoice, _second = signed_in
    url = f"/portal/invoices/{invoice.id}/deferral"
    response = client.post(url, data={"csrf_token": _token(client, url),
                                      "new_due_date": "yesterday"})
    assert response.status_code == 400
    assert "Not a date" in response.get_data(as_text=True)
    assert _count(Deferral) == 0 and _count(CustomerRequest) == 0


def test_posts_without_csrf_are_refused(signed_in):
    client, _customer, invoice, _second = signed_in
    for url, data in ((f"/portal/invoices/{invoice.id}/deferral",
                       {"new_due_date": (TODAY + timedelta(days=5)).isoformat()}),
                      ("/portal/plan", {"invoices": [str(invoice.id)], "installment_count": "3",
                                        "day_of_month": "5", "action": "confirm"}),
                      (f"/portal/invoices/{invoice.id}/dispute",
                       {"reason": "quality", "text": "x"})):
        response = client.post(url, data=data)
        assert response.status_code == 400, url
    assert _count(CustomerRequest) == 0


def test_plan_wizard_preview_then_confirm_shows_the_schedule_with_qr_codes(signed_in):
    client, _customer, invoice, second = signed_in
    token = _token(client, "/portal/plan")
    data = {"csrf_token": token, "invoices": [str(invoice.id), str(second.id)],
            "installment_count": "3", "day_of_month": "12", "action": "preview"}
    preview = client.post("/portal/plan", data=data)
    body = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "3 instalments for a total of €450.00." in body
    assert "it starts as soon as you confirm" in body
    assert _count(PaymentPlan) == 0  # a preview stores nothing
    data["action"] = "confirm"
    done = client.post("/portal/plan", data=data)
    assert done.status_code == 302 and re.search(r"/portal/plans/\d+$", done.headers["Location"])
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    plan = db.session.scalar(select(PaymentPlan))
    for installment in plan.installments:
        ogm = installment.structured_reference
        assert f"+++{ogm[:3]}/{ogm[3:7]}/{ogm[7:]}+++" in page
    assert page.count('src="data:image/svg+xml;base64,') == 3
    assert "€150.00" in page


def test_plan_below_the_minimum_is_refused_with_a_message(signed_in):
    client, customer, _invoice, _second = signed_in
    small = make_invoice(customer, total="40.00", due_in_days=-3)
    response = client.post("/portal/plan", data={
        "csrf_token": _token(client, "/portal/plan"), "invoices": [str(small.id)],
        "installment_count": "2", "day_of_month": "5", "action": "preview"})
    assert response.status_code == 400
    assert "a payment plan is not possible" in response.get_data(as_text=True)


def test_plan_outside_the_rules_goes_to_staff_and_says_why(signed_in):
    client, _customer, invoice, _second = signed_in
    data = {"csrf_token": _token(client, "/portal/plan"), "invoices": [str(invoice.id)],
            "installment_count": "6", "day_of_month": "5", "action": "preview"}
    preview = client.post("/portal/plan", data=data).get_data(as_text=True)
    assert "needs our team" in preview and "at most 3 instalments" in preview
    data["action"] = "confirm"
    done = client.post("/portal/plan", data=data)
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "sent to our team" in page and "at most 3 instalments" in page
    assert _count(PaymentPlan) == 0


def test_dispute_with_attachment_then_page_and_download(signed_in):
    client, _customer, invoice, _second = signed_in
    url = f"/portal/invoices/{invoice.id}/dispute"
    response = client.post(url, content_type="multipart/form-data", data={
        "csrf_token": _token(client, url), "reason": "wrong_amount", "amount": "100",
        "text": "<script>alert('x')</script> price was 200",
        "files": [(io.BytesIO(PDF), "quote.pdf"), (io.BytesIO(PNG), "photo.png")]})
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    assert "quote.pdf" in page and "€100.00" in page
    [attachment] = [a for a in db.session.scalars(select(Attachment)) if a.file_name ==
                    "quote.pdf"]
    download = client.get(f"/portal/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == PDF
    invoice_page = client.get(f"/portal/invoices/{invoice.id}").get_data(as_text=True)
    assert "Disputed" in invoice_page


@pytest.mark.parametrize("name, data, message", [
    ("evil.pdf", b"<html>not a pdf</html>", "is not a PDF, PNG or JPEG file"),
    ("big.png", PNG + b"0" * (5 * 1024 * 1024), "is larger than 5 MB"),
])
def test_dispute_upload_refused_by_content_and_size(signed_in, name, data, message):
    client, _customer, invoice, _second = signed_in
    url = f"/portal/invoices/{invoice.id}/dispute"
    response = client.post(url, content_type="multipart/form-data", data={
        "csrf_token": _token(client, url), "reason": "quality", "text": "see file",
        "files": [(io.BytesIO(data), name)]})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _count(Dispute) == 0 and _count(Attachment) == 0


def test_dispute_missing_fields_are_shown(signed_in):
    client, _customer, invoice, _second = signed_in
    url = f"/portal/invoices/{invoice.id}/dispute"
    response = client.post(url, data={"csrf_token": _token(client, url), "reason": "",
                                      "text": "", "amount": "9999"})
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Choose a reason." in body and "This field is required." in body
    assert "You can dispute at most" in body
    assert _count(Dispute) == 0


def test_another_customers_ids_are_404(signed_in):
    client, _customer, _invoice, _second = signed_in
    other = make_customer(name="Other Secret", email="other2@example.test")
    theirs = make_invoice(other, total="77.77", due_in_days=-5)
    for url in (f"/portal/invoices/{theirs.id}/deferral", f"/portal/invoices/{theirs.id}/dispute"):
        assert client.get(url).status_code == 404
    token = _token(client, "/portal/plan")
    response = client.post("/portal/plan", data={
        "csrf_token": token, "invoices": [str(theirs.id)], "installment_count": "1",
        "day_of_month": "5", "action": "confirm"})
    assert response.status_code == 400 and "77.77" not in response.get_data(as_text=True)
    assert _count(PaymentPlan) == 0 and _count(CustomerRequest) == 0


MY_ENDPOINTS = ("portal.invoice_deferral", "portal.invoice_action_result", "portal.plan",
                "portal.invoice_dispute", "portal.dispute", "portal.attachment")


def test_every_invoice_action_route_is_404_for_another_customers_record(app, portal_client,
                                                                          notices):
    from tests.portal.test_scoping import _other_customers_records

    mine = make_customer(name="Mine Only", email="mine-only@example.test", language="en")
    make_invoice(mine, total="12.00", due_in_days=-1)
    ids, secrets = _other_customers_records()
    client = portal_client(mine)
    token = _token(client, "/portal/")
    rules = [r for r in app.url_map.iter_rules() if r.endpoint in MY_ENDPOINTS]
    assert {r.endpoint for r in rules} == set(MY_ENDPOINTS)
    for rule in rules:
        path = rule.build({arg: ids[arg] for arg in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method,
                                   data={"csrf_token": token} if method == "POST" else None)
            assert response.status_code == 404, f"{method} {path}"
            body = response.get_data(as_text=True)
            assert not [s for s in secrets if s in body], f"{method} {path}"
