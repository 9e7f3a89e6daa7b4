"""Acting through the API: the portal's services, the same decisions; idempotency keys."""
from __future__ import annotations

import io
from datetime import date, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.requests.models import Attachment, CustomerRequest, Deferral, Dispute, PaymentPlan
from tests.customer_api.conftest import make_api
from tests.portal.conftest import csrf_from, install_magic_link_templates, sign_in

PDF = b"%PDF-1.4\n%%EOF\n"


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _portal(app, customer):
    install_magic_link_templates()
    client = app.test_client()
    sign_in(client, customer.email)
    return client


def test_deferral_within_the_rules_is_approved_like_on_the_portal(api, app):
    new_due = (date.today() + timedelta(days=10)).isoformat()
    answer = api.post("/deferrals", {"invoice_ids": [api.invoices[0].id],
                                     "new_due_date": new_due})
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["approved"] and body["deferrals"][0]["new_due_date"] == new_due
    assert body["request"]["channel"] == "api"
    invoice = api.get(f"/invoices/{api.invoices[0].id}").get_json()
    assert invoice["deferral"] == {"deferred_until": new_due} and invoice["status"] == "open"


def test_same_deferral_refused_identically_by_portal_and_api(client, app):
    """Service parity: a deferral beyond the allowed days is sent to staff with the same
    rule text through the portal form and through the API."""
    far = (date.today() + timedelta(days=400)).isoformat()
    by_api = make_api(client)
    api_answer = by_api.post("/deferrals", {"invoice_ids": [by_api.invoices[0].id],
                                            "new_due_date": far})
    by_portal = make_api(client)
    browser = _portal(app, by_portal.customer)
    url = f"/portal/invoices/{by_portal.invoices[0].id}/deferral"
    token = csrf_from(browser.get(url).get_data(as_text=True))
    page = browser.post(url, data={"csrf_token": token, "new_due_date": far})
    api_body = api_answer.get_json()
    portal_req = db.session.scalar(select(CustomerRequest).where(
        CustomerRequest.customer_id == by_portal.customer.id))
    if api_answer.status_code == 400:  # refused outright: the same field messages
        assert page.status_code == 400
        for message in api_body["errors"]["new_due_date"]:
            assert message in page.get_data(as_text=True)
        assert portal_req is None
    else:
        assert api_answer.status_code == 202 and not api_body["approved"]
        api_req = db.session.get(CustomerRequest, api_body["request"]["id"])
        assert portal_req is not None and portal_req.status == api_req.status == "received"
        assert portal_req.referral_codes == api_req.referral_codes
        assert api_body["refused_rules"]


def test_plan_answers_match_the_portal_preview(api, app):
    ids = [i.id for i in api.invoices]
    preview = api.post("/payment-plans/preview", {"invoice_ids": ids, "installment_count": 3,
                                                  "day_of_month": 5}, idem="pv")
    assert preview.status_code == 200, preview.get_json()
    shown = preview.get_json()
    assert shown["total_amount"] == "450.00" and len(shown["installments"]) == 3
    assert _count(PaymentPlan) == 0  # a preview changes nothing
    made = api.post("/payment-plans", {"invoice_ids": ids, "installment_count": 3,
                                       "day_of_month": 5}, idem="plan")
    assert made.status_code == (201 if shown["approved_at_once"] else 202)
    assert made.get_json()["refused_rules"] == shown["refused_rules"]
    if shown["approved_at_once"]:
        plan = made.get_json()["plan"]
        assert plan["status"] == "active" and len(plan["installments"]) == 3
        assert api.get(f"/payment-plans/{plan['id']}").get_json()["id"] == plan["id"]
        listed = api.get("/invoices").get_json()["items"]
        assert all(i["in_payment_plan"] for i in listed)


def test_plan_refusal_carries_the_rule(api):
    answer = api.post("/payment-plans", {"invoice_ids": [api.invoices[0].id],
                                         "installment_count": 99, "day_of_month": 5})
    assert answer.status_code in (400, 202)
    body = answer.get_json()
    assert body.get("errors") or body.get("refused_rules")


def test_dispute_with_attachment_and_field_errors(api):
    invoice = api.invoices[0]
    bad = api.post(f"/invoices/{invoice.id}/disputes", {"reason": "nonsense", "text": ""},
                   idem="d0")
    assert bad.status_code == 400 and {"reason", "text"} <= set(bad.get_json()["errors"])
    assert _count(Dispute) == 0
    answer = api.client.post(
        f"/api/customer/v1/invoices/{invoice.id}/disputes",
        data={"amount": "100.00", "reason": "wrong_amount", "text": "Metered twice",
              "files": (io.BytesIO(PDF), "meter.pdf")},
        headers=api.headers({"Idempotency-Key": "d1"}), content_type="multipart/form-data")
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["amount"] == "100.00"
    assert _count(Attachment) == 1
    shown = api.get(f"/invoices/{invoice.id}").get_json()
    assert shown["dispute"] == {"disputed_amount": "100.00"} and shown["payable_now"] == "200.00"


def test_question_and_requests_list(api):
    answer = api.post("/questions", {"subject": "Meter", "text": "Which reading?",
                                     "invoice_id": api.invoices[0].id})
    assert answer.status_code == 201
    listed = api.get("/requests").get_json()["items"]
    assert [r["kind"] for r in listed] == ["question"]
    assert listed[0]["invoice_ids"] == [api.invoices[0].id]
    empty = api.post("/questions", {"subject": "", "text": ""}, idem="q2")
    assert empty.status_code == 400 and set(empty.get_json()["errors"]) == {"subject", "text"}


def test_idempotency_key_required_replayed_and_conflicting(api):
    body = {"subject": "Once", "text": "Only once please"}
    assert api.post("/questions", body, idem=None).status_code == 428
    first = api.post("/questions", body, idem="same")
    again = api.post("/questions", body, idem="same")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert _count(CustomerRequest) == 1
    other_body = api.post("/questions", {"subject": "Other", "text": "x"}, idem="same")
    assert other_body.status_code == 409 and _count(CustomerRequest) == 1


def test_invalid_json_is_a_problem_not_a_500(api):
    answer = api.client.post("/api/customer/v1/deferrals", data="{not json",
                             headers=api.headers({"Idempotency-Key": "j",
                                                  "Content-Type": "application/json"}))
    assert answer.status_code == 400
    assert api.post("/deferrals", {"invoice_ids": "x"}, idem="j2").status_code == 400
    assert _count(Deferral) == 0


def test_question_refusals_are_the_portals_words(client, app, other):
    """One service (app.requests.questions): the same refusals through the portal form and
    the API, and nothing made by either."""
    by_api = make_api(client)
    browser = _portal(app, by_api.customer)
    cases = [({"subject": "", "text": "Hi"}, "Please give your question a subject."),
             ({"subject": "S" * 201, "text": "Hi"}, "At most 200 characters."),
             ({"subject": "Meter", "text": ""}, "Please write a message."),
             ({"subject": "Meter", "text": "Hi", "invoice_id": other.invoices[0].id},
              "Choose one of your invoices.")]
    for n, (body, words) in enumerate(cases):
        answer = by_api.post("/questions", body, idem=f"q{n}")
        assert answer.status_code == 400 and words in answer.get_json()["detail"], body
        page = browser.get("/portal/requests/new").get_data(as_text=True)
        form = {"subject": body["subject"], "text": body["text"],
                "invoice": str(body.get("invoice_id") or ""), "csrf_token": csrf_from(page)}
        shown = browser.post("/portal/requests/new", data=form)
        assert shown.status_code == 400 and words in shown.get_data(as_text=True), body
    assert _count(CustomerRequest) == 0
    made = browser.post("/portal/requests/new", data={
        "subject": "Meter", "text": "Which reading?", "invoice": str(by_api.invoices[0].id),
        "csrf_token": csrf_from(browser.get("/portal/requests/new").get_data(as_text=True))})
    assert made.status_code == 302
    req = db.session.scalar(select(CustomerRequest))
    assert (req.kind, req.channel, [i.id for i in req.invoices]) == (
        "question", "portal", [by_api.invoices[0].id])
