"""My requests in the portal: the list, a question to the AR team, the conversation, the survey."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.settings import set_setting
from app.extensions import db
from app.requests import services
from app.requests.models import CustomerRequest, RequestComment
from tests.helpers import make_customer, make_invoice, make_staff_user
from tests.portal.conftest import csrf_from


@pytest.fixture(autouse=True)
def message_templates(app, _clean_database):
    from app.notifications.defaults import install_defaults

    install_defaults()


def _count(model) -> int:
    return db.session.scalar(select(func.count(model.id)))


def _ask(client, **data):
    page = client.get("/portal/requests/new").get_data(as_text=True)
    form = {"subject": "About my invoice", "text": "Why is it so high?", "invoice": "",
            "csrf_token": csrf_from(page)}
    form.update(data)
    return client.post("/portal/requests/new", data=form)


def test_a_question_is_a_request_with_its_sla_and_shows_in_the_list(app, portal_client):
    customer = make_customer(name="Marie Peeters", email="marie@example.test", language="en")
    invoice = make_invoice(customer, total="50.00")
    set_setting("requests.sla_hours.question", 24)
    db.session.commit()
    client = portal_client(customer)
    response = _ask(client, invoice=str(invoice.id))
    assert response.status_code == 302
    req = db.session.scalar(select(CustomerRequest))
    assert (req.kind, req.status, req.channel) == ("question", "received", "portal")
    assert [i.id for i in req.invoices] == [invoice.id]
    assert (req.sla_due_at - req.created_at).total_seconds() == pytest.approx(24 * 3600, abs=5)
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "we have received your question" in detail
    listing = client.get("/portal/requests").get_data(as_text=True)
    assert "Question" in listing and "About my invoice" in listing and "Received" in listing
    assert f"/portal/requests/{req.id}" in listing


def test_the_list_is_in_the_customers_language(portal_client):
    customer = make_customer(email="jan@example.test", language="nl")
    services.open_request(customer, "deferral", subject="Uitstel")
    db.session.commit()
    html = portal_client(customer).get("/portal/requests?lang=nl").get_data(as_text=True)
    assert "Uitstel" in html
    assert "Mijn aanvragen" in html or "My requests" in html  # until the catalogues merge


def test_script_in_a_question_is_shown_escaped(portal_client):
    customer = make_customer(email="x@example.test", language="en")
    client = portal_client(customer)
    assert _ask(client, subject="<script>alert(1)</script>",
                text="<img src=x onerror=alert(2)>").status_code == 302
    req = db.session.scalar(select(CustomerRequest))
    for url in ("/portal/requests", f"/portal/requests/{req.id}"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in client.get(f"/portal/requests/{req.id}").get_data(as_text=True)


def test_without_csrf_nothing_is_created(portal_client):
    client = portal_client(make_customer(email="c@example.test", language="en"))
    response = client.post("/portal/requests/new", data={"subject": "S", "text": "T"})
    assert response.status_code == 400
    assert _count(CustomerRequest) == 0


def test_an_empty_question_is_refused_with_a_message(portal_client):
    client = portal_client(make_customer(email="e@example.test", language="en"))
    response = _ask(client, subject="", text="")
    assert response.status_code == 400
    assert "Please write a message." in response.get_data(as_text=True)
    assert _count(CustomerRequest) == 0


def test_another_customers_invoice_cannot_be_named(portal_client):
    other_invoice = make_invoice(make_customer(), total="9.99")
    client = portal_client(make_customer(email="f@example.test", language="en"))
    response = _ask(client, invoice=str(other_invoice.id))
    assert response.status_code == 400
    assert _count(CustomerRequest) == 0


def test_customer_replies_and_sees_the_staff_answer(app, portal_client):
    customer = make_customer(email="g@example.test", language="en")
    req = services.open_request(customer, "question", subject="Q", message="Hello")
    db.session.commit()
    services.add_comment(req, "Here is our answer.", author="staff",
                         user=make_staff_user(app, "AR clerk"))
    db.session.commit()
    client = portal_client(customer)
    page = client.get(f"/portal/requests/{req.id}").get_data(as_text=True)
    assert "Here is our answer." in page and "AR clerk" not in page
    response = client.post(f"/portal/requests/{req.id}/reply",
                           data={"text": "Thanks!", "csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert [c.author for c in db.session.scalars(select(RequestComment))] == ["staff", "customer"]
    assert client.post(f"/portal/requests/{req.id}/reply",
                       data={"text": "No token"}).status_code == 400
    assert _count(RequestComment) == 2


def test_a_reply_to_a_cancelled_request_is_refused_with_the_reason(app, portal_client):
    customer = make_customer(email="closedreply@example.test", language="en")
    req = services.open_request(customer, "question", subject="Q", message="Hello")
    db.session.commit()
    client = portal_client(customer)
    token = csrf_from(client.get(f"/portal/requests/{req.id}").get_data(as_text=True))
    req.status = "cancelled"
    db.session.commit()
    response = client.post(f"/portal/requests/{req.id}/reply",
                           data={"text": "One more thing", "csrf_token": token})
    assert response.status_code == 400
    assert "This request is closed" in response.get_data(as_text=True)
    assert _count(RequestComment) == 0


def test_survey_only_on_answered_requests_and_only_once(app, portal_client):
    customer = make_customer(email="h@example.test", language="en")
    req = services.open_request(customer, "question", subject="Q")
    db.session.commit()
    client = portal_client(customer)
    page = client.get(f"/portal/requests/{req.id}").get_data(as_text=True)
    assert 'id="survey-form"' not in page
    token = csrf_from(page)
    refused = client.post(f"/portal/requests/{req.id}/survey",
                          data={"score": "9", "csrf_token": token})
    assert refused.status_code == 400
    assert "once it has been answered" in refused.get_data(as_text=True)

    services.decide_request(req, make_staff_user(app, "AR clerk"), True, "Answered.")
    db.session.commit()
    page = client.get(f"/portal/requests/{req.id}").get_data(as_text=True)
    assert 'id="survey-form"' in page
    for bad in ("11", "-1", "ten", ""):
        response = client.post(f"/portal/requests/{req.id}/survey",
                               data={"score": bad, "csrf_token": token})
        assert response.status_code == 400
        assert "Choose a score from 0 to 10." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CustomerRequest, req.id).satisfaction_score is None

    done = client.post(f"/portal/requests/{req.id}/survey",
                       data={"score": "10", "comment": "Quick!", "csrf_token": token})
    assert done.status_code == 302
    assert "Thank you for your feedback" in client.get(done.headers["Location"]).get_data(
        as_text=True)
    again = client.post(f"/portal/requests/{req.id}/survey",
                        data={"score": "0", "csrf_token": token})
    assert again.status_code == 400
    db.session.expire_all()
    saved = db.session.get(CustomerRequest, req.id)
    assert (saved.satisfaction_score, saved.satisfaction_comment) == (10, "Quick!")
    page = client.get(f"/portal/requests/{req.id}").get_data(as_text=True)
    assert 'id="survey-form"' not in page and 'id="survey-done"' in page


def test_another_customers_request_is_404(portal_client):
    other = make_customer(name="Someone Else")
    theirs = services.open_request(other, "question", subject="Their secret")
    db.session.commit()
    client = portal_client(make_customer(email="i@example.test", language="en"))
    token = csrf_from(client.get("/portal/requests").get_data(as_text=True))
    for method, path in (("GET", ""), ("POST", "/reply"), ("POST", "/survey")):
        response = client.open(f"/portal/requests/{theirs.id}{path}", method=method,
                               data={"text": "x", "score": "5", "csrf_token": token})
        assert response.status_code == 404
        assert "Their secret" not in response.get_data(as_text=True)
    assert "Their secret" not in client.get("/portal/requests").get_data(as_text=True)
    assert _count(RequestComment) == 0


def test_pages_need_a_signed_in_customer(client):
    for url in ("/portal/requests", "/portal/requests/new", "/portal/requests/1"):
        response = client.get(url)
        assert response.status_code == 302 and "/portal/login" in response.headers["Location"]
