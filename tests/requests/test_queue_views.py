"""The staff request queue and request page over HTTP: filters, SLA, decisions, replies, roles."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.models import utcnow
from app.core.validation import ValidationError
from app.extensions import db
from app.notifications.models import Message
from app.requests import services
from app.requests.models import CustomerRequest, RequestComment
from tests.backoffice.conftest import session_csrf
from tests.helpers import csrf_for, csrf_token, make_customer

pytestmark = pytest.mark.usefixtures("message_templates")


def _request(kind="question", due_in_hours=48, status="received", subject="Subject", **fields):
    customer = fields.pop("customer", None) or make_customer(name=f"Client {subject}")
    req = CustomerRequest(customer_id=customer.id, kind=kind, status=status, subject=subject,
                          sla_due_at=utcnow() + timedelta(hours=due_in_hours), payload={},
                          **fields)
    db.session.add(req)
    db.session.commit()
    return req


def test_queue_sorts_by_answer_due_and_shows_the_sla_state(staff_client):
    late = _request(subject="Late one", due_in_hours=-3)
    soon = _request(subject="Soon one", due_in_hours=2)
    later = _request(subject="Later one", due_in_hours=40)
    _request(subject="Answered one", status="approved", due_in_hours=-50)
    html = staff_client("AR clerk").get("/requests/queue/").get_data(as_text=True)
    assert "Answered one" not in html  # open requests by default
    assert html.index("Late one") < html.index("Soon one") < html.index("Later one")
    assert f'id="request-{late.id}" class="danger"' in html
    assert f'id="request-{soon.id}" class="warning"' in html
    assert "sla-breached" in html and "sla-due_soon" in html and "sla-on_time" in html
    assert f"request-{later.id}" in html


def test_queue_filters_by_sla_kind_and_status(staff_client):
    _request(subject="Late question", due_in_hours=-3)
    _request(subject="Soon deferral", kind="deferral", due_in_hours=3)
    _request(subject="Rejected dispute", kind="dispute", status="rejected")
    client = staff_client("Read-only")

    def shown(query):
        return client.get(f"/requests/queue/?{query}").get_data(as_text=True)

    assert "Late question" in shown("sla=breached")
    assert "Soon deferral" not in shown("sla=breached")
    assert "Soon deferral" in shown("sla=due_soon") and "Late question" not in shown("sla=due_soon")
    assert "Late question" not in shown("kind=deferral")
    assert "Rejected dispute" in shown("status=rejected")
    assert "Rejected dispute" in shown("status=all")
    assert "Rejected dispute" not in shown("")
    assert client.get("/requests/queue/?kind=nonsense&status=bogus&sla=x&page=-3").status_code \
        == 200


def _page_csrf(client, req):
    return csrf_token(client.get(f"/requests/queue/{req.id}").get_data(as_text=True))


def test_staff_approve_with_a_note_the_customer_is_told(app, staff_client):
    req = _request(subject="Please approve")
    client = staff_client("AR clerk")
    response = client.post(f"/requests/queue/{req.id}/decide",
                           data={"decision": "approve", "note": "Fine by us.",
                                 "csrf_token": _page_csrf(client, req)})
    assert response.status_code == 302
    db.session.expire_all()
    req = db.session.get(CustomerRequest, req.id)
    assert req.status == "approved" and req.decision_note == "Fine by us."
    assert req.decided_by.username == "ar_clerk"
    message = db.session.scalar(select(Message).where(Message.event == "request_decided"))
    assert message is not None and "Fine by us." in message.body_text
    page = client.get(f"/requests/queue/{req.id}").get_data(as_text=True)
    assert 'id="decide-form"' not in page  # decided: no second decision


def test_a_handler_refusal_is_flashed_and_changes_nothing(app, staff_client):
    def refuse(req, approved, user):
        raise ValidationError({"kind": "The plan is longer than the rules allow."})

    saved = dict(services._DECISION_HANDLERS)
    services.register_decision_handler("payment_plan", refuse)
    try:
        req = _request(kind="payment_plan", subject="Long plan")
        client = staff_client("Credit manager")
        response = client.post(f"/requests/queue/{req.id}/decide",
                               data={"decision": "approve", "note": "ok",
                                     "csrf_token": _page_csrf(client, req)},
                               follow_redirects=True)
    finally:
        services._DECISION_HANDLERS.clear()
        services._DECISION_HANDLERS.update(saved)
    assert response.status_code == 200
    assert "The plan is longer than the rules allow." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CustomerRequest, req.id).status == "received"


def test_without_csrf_nothing_is_decided(staff_client):
    req = _request(subject="No token")
    client = staff_client("Admin")
    response = client.post(f"/requests/queue/{req.id}/decide",
                           data={"decision": "reject", "note": "x"}, follow_redirects=True)
    assert response.status_code == 400  # refused before the view (app/core/web_security.py)
    db.session.expire_all()
    assert db.session.get(CustomerRequest, req.id).status == "received"


def test_reply_assign_and_close(app, staff_client):
    req = _request(subject="Question about VAT")
    client = staff_client("AR clerk")
    token = _page_csrf(client, req)
    assert client.post(f"/requests/queue/{req.id}/assign",
                       data={"csrf_token": token}).status_code == 302
    assert client.post(f"/requests/queue/{req.id}/reply",
                       data={"text": "<b>VAT</b> is 21 %", "csrf_token": token}).status_code == 302
    assert client.post(f"/requests/queue/{req.id}/reply",
                       data={"text": "   ", "csrf_token": token}).status_code == 302
    assert client.post(f"/requests/queue/{req.id}/close",
                       data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    req = db.session.get(CustomerRequest, req.id)
    assert req.status == "closed" and req.assignee.username == "ar_clerk"
    assert [c.text for c in req.comments] == ["<b>VAT</b> is 21 %"]
    page = client.get(f"/requests/queue/{req.id}").get_data(as_text=True)
    assert "&lt;b&gt;VAT&lt;/b&gt; is 21 %" in page and "<b>VAT</b>" not in page


@pytest.mark.parametrize("role", ["Read-only", "Compliance officer"])
def test_readers_see_but_may_not_act(app, staff_client, role):
    req = _request(subject="Look only")
    client = staff_client(role)
    assert client.get("/requests/queue/").status_code == 200
    page = client.get(f"/requests/queue/{req.id}")
    assert page.status_code == 200 and 'id="decide-form"' not in page.get_data(as_text=True)
    token = session_csrf(app, client)
    for action, data in (("decide", {"decision": "approve"}), ("reply", {"text": "hi"}),
                         ("assign", {}), ("close", {})):
        response = client.post(f"/requests/queue/{req.id}/{action}",
                               data={**data, "csrf_token": token})
        assert response.status_code == 403, action
    db.session.expire_all()
    assert db.session.get(CustomerRequest, req.id).status == "received"
    assert db.session.scalar(select(RequestComment.id)) is None


def test_unknown_request_is_404(staff_client):
    assert staff_client("Admin").get("/requests/queue/999999").status_code == 404


def test_satisfaction_report_page(staff_client):
    customer = make_customer(name="Garage Peeters")
    db.session.add(CustomerRequest(customer_id=customer.id, kind="deferral", status="closed",
                                   satisfaction_score=9, satisfaction_at=utcnow(),
                                   satisfaction_comment="<script>alert(1)</script> top"))
    db.session.commit()
    response = staff_client("Read-only").get("/requests/satisfaction/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="kind-deferral"' in html and "+100" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; top" in html
    assert staff_client("Admin").get(
        "/requests/satisfaction/?from=garbage&to=2020-01-01").status_code == 200


def test_staff_records_a_request_on_the_customers_behalf(app, staff_client):
    customer = make_customer(name="Phone caller")
    client = staff_client("AR clerk")
    page = client.get("/customerrequestview/add").get_data(as_text=True)
    response = client.post("/customerrequestview/add", data={
        "customer": str(customer.id), "kind": "question", "channel": "staff",
        "subject": "Called about invoice", "message": "", "assignee": "__None",
        "csrf_token": csrf_token(page)})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    req = db.session.scalar(select(CustomerRequest).where(
        CustomerRequest.customer_id == customer.id))
    assert req.channel == "staff" and req.sla_due_at is not None


# --- data-subject requests (access, erasure): answered by the Compliance officer and the Admin --

@pytest.mark.parametrize("role,allowed", [("Compliance officer", True), ("Admin", True),
                                          ("AR clerk", False), ("Credit manager", False),
                                          ("Read-only", False)])
@pytest.mark.parametrize("kind", ["erasure", "access"])
def test_only_compliance_roles_decide_data_subject_requests(app, staff_client, role, allowed,
                                                            kind):
    req = _request(kind=kind, subject=f"GDPR {kind}", due_in_hours=700)
    client = staff_client(role)
    page = client.get(f"/requests/queue/{req.id}").get_data(as_text=True)
    assert ('id="decide-form"' in page) is allowed
    assert ('id="reply-form"' in page) is allowed
    token = session_csrf(app, client)
    response = client.post(f"/requests/queue/{req.id}/decide",
                           data={"decision": "reject", "note": "Identity not proven.",
                                 "csrf_token": token})
    db.session.expire_all()
    req = db.session.get(CustomerRequest, req.id)
    if allowed:
        assert response.status_code == 302
        assert req.status == "rejected" and req.decision_note == "Identity not proven."
    else:
        assert response.status_code == 403
        assert req.status == "received" and req.decided_at is None


@pytest.mark.parametrize("role", ["AR clerk", "Credit manager"])
def test_finance_roles_may_not_reply_take_or_close_a_data_subject_request(app, staff_client,
                                                                          role):
    req = _request(kind="erasure", subject="Forget me", due_in_hours=700)
    client = staff_client(role)
    token = session_csrf(app, client)
    for action, data in (("reply", {"text": "hi"}), ("assign", {}), ("close", {})):
        response = client.post(f"/requests/queue/{req.id}/{action}",
                               data={**data, "csrf_token": token})
        assert response.status_code == 403, action
    db.session.expire_all()
    req = db.session.get(CustomerRequest, req.id)
    assert req.status == "received" and req.assignee_id is None and not req.comments


def test_the_compliance_officer_answers_an_erasure_request_end_to_end(app, staff_client):
    from app.retention.rules import install_defaults

    install_defaults()
    customer = make_customer(name="Forget Me", language="nl")
    req = _request(kind="erasure", subject="Wis mijn gegevens", due_in_hours=700,
                   customer=customer)
    client = staff_client("Compliance officer")
    token = _page_csrf(client, req)
    assert client.post(f"/requests/queue/{req.id}/assign",
                       data={"csrf_token": token}).status_code == 302
    response = client.post(f"/requests/queue/{req.id}/decide",
                           data={"decision": "approve", "note": "", "csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    req = db.session.get(CustomerRequest, req.id)
    assert req.status == "approved" and req.decided_by.username == "compliance_officer"
    assert req.customer.email is None  # the erasure ran
    assert db.session.scalar(select(Message).where(Message.event == "erasure_done")) is not None


@pytest.mark.parametrize("role", ["AR clerk", "Credit manager"])
def test_finance_roles_still_decide_the_other_kinds(app, staff_client, role):
    req = _request(kind="deferral", subject="More time")
    client = staff_client(role)
    page = client.get(f"/requests/queue/{req.id}").get_data(as_text=True)
    assert 'id="decide-form"' in page
    response = client.post(f"/requests/queue/{req.id}/decide",
                           data={"decision": "reject", "note": "No.",
                                 "csrf_token": _page_csrf(client, req)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(CustomerRequest, req.id).status == "rejected"


def test_signed_out_user_is_sent_to_the_login_page(app):
    req = _request(kind="erasure", subject="Anonymous try", due_in_hours=700)
    client = app.test_client()
    response = client.post(f"/requests/queue/{req.id}/decide",
                           data={"decision": "approve", "csrf_token": csrf_for(client)})
    assert response.status_code == 302 and "/login/" in response.headers["Location"]
    db.session.expire_all()
    assert db.session.get(CustomerRequest, req.id).status == "received"
