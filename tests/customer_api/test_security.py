"""A key reads and acts for its own customer only; revoked or expired keys get 401 at once;
a read-only key cannot act; keys never reach the logs."""
from __future__ import annotations

import logging
from datetime import timedelta

from app.core.audit_models import AuditEvent
from app.core.models import utcnow
from app.customer_api import keys
from app.customer_api.models import ApiKey
from app.extensions import db
from app.requests.models import CustomerRequest
from tests.customer_api.conftest import make_api


def _own_ids(api):
    """Every id-taking route, with ids of ``api``'s customer."""
    invoice = api.invoices[0].id
    req = db.session.query(CustomerRequest).filter_by(customer_id=api.customer.id).first()
    return [("get", f"/invoices/{invoice}"), ("get", f"/invoices/{invoice}/pdf"),
            ("get", f"/invoices/{invoice}/payment-instructions"),
            ("get", f"/invoices/{invoice}/qr.png"), ("get", f"/invoices/{invoice}/qr.svg"),
            ("get", f"/invoices/{invoice}.xml"), ("get", f"/requests/{req.id}"),
            ("post", f"/invoices/{invoice}/disputes")]


def test_every_route_with_another_customers_ids_is_404(api, other):
    from tests.customer_api.test_reads import e_invoice

    # the other customer has a request, a plan and an e-invoice of their own
    e_invoice(other.invoices[0])
    other.post("/questions", {"subject": "Hello", "text": "A question"}, idem="q")
    plan = other.post("/payment-plans", {"invoice_ids": [i.id for i in other.invoices],
                                         "installment_count": 3, "day_of_month": 5}, idem="p")
    assert plan.status_code in (201, 202), plan.get_json()
    routes = _own_ids(other)
    if plan.get_json().get("plan"):
        routes.append(("get", f"/payment-plans/{plan.get_json()['plan']['id']}"))
    for method, path in routes:
        if method == "get":
            answer = api.get(path)
        else:
            answer = api.post(path, {"reason": "wrong_amount", "text": "x"}, idem=path)
        assert answer.status_code == 404, (path, answer.status_code)
        assert other.invoices[0].number not in answer.get_data(as_text=True)
    # and the lists show only one's own
    numbers = {i["number"] for i in api.get("/invoices").get_json()["items"]}
    assert numbers == {i.number for i in api.invoices}
    assert api.get("/requests").get_json()["items"] == []


def test_no_key_unknown_revoked_or_expired_key_is_401(api):
    assert api.client.get("/api/customer/v1/balance").status_code == 401
    assert api.get("/balance", key="cdk_not-a-key").status_code == 401
    assert api.get("/balance").status_code == 200
    key = db.session.query(ApiKey).filter_by(customer_id=api.customer.id).one()
    keys.revoke_key(key, "test")
    db.session.commit()
    answer = api.get("/balance")
    assert answer.status_code == 401 and answer.mimetype == "application/problem+json"
    assert "Bearer" in answer.headers["WWW-Authenticate"]
    fresh = keys.create_key(api.customer, "Short", "read", days=1)
    db.session.commit()
    assert api.get("/balance", key=fresh.secret).status_code == 200
    fresh.key.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert api.get("/balance", key=fresh.secret).status_code == 401


def test_read_only_key_cannot_act(client):
    reader = make_api(client, scope="read")
    assert reader.get("/balance").status_code == 200
    for path, body in [("/deferrals", {"invoice_ids": [reader.invoices[0].id],
                                       "new_due_date": "2099-01-01"}),
                       ("/questions", {"subject": "s", "text": "t"}),
                       ("/payment-plans", {"invoice_ids": [reader.invoices[0].id]})]:
        answer = reader.post(path, body)
        assert answer.status_code == 403, path
    assert db.session.query(CustomerRequest).count() == 0


def test_keys_are_stored_hashed_audited_and_never_logged(api, caplog):
    caplog.set_level(logging.DEBUG)
    api.get("/balance")
    api.get("/invoices?status=nonsense")
    key = db.session.query(ApiKey).filter_by(customer_id=api.customer.id).one()
    assert key.key_hash != api.secret and api.secret not in key.key_hash
    # the second read within the minute is counted in the process, not written
    assert key.last_used_at is not None and key.use_count == 1
    assert key.last_used_ip == "127.0.0.1"
    # an action is always written (with the reads counted meanwhile) and audited
    api.post("/questions", {"subject": "Hello", "text": "A question"}, idem="q1")
    db.session.refresh(key)
    assert key.use_count == 3
    uses = db.session.query(AuditEvent).filter_by(action="api_key_used",
                                                  customer_id=api.customer.id).order_by(
        AuditEvent.id).all()
    assert [u.detail.split("… ")[1] for u in uses] == [
        "GET /api/customer/v1/balance", "POST /api/customer/v1/questions"]
    assert all(api.secret not in (e.detail or "") for e in db.session.query(AuditEvent))
    assert api.secret not in caplog.text


def test_key_use_is_written_once_a_minute_and_audited_once_an_hour_or_from_a_new_address(api):
    from datetime import UTC, datetime

    def use(moment, ip="203.0.113.5", method="GET"):
        key = keys.authenticate(api.secret, ip, method, "/api/customer/v1/balance", moment)
        written = key.use_written
        db.session.commit()
        return written

    def audited():
        return db.session.query(AuditEvent).filter_by(action="api_key_used").count()

    start = datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC)
    assert use(start) and audited() == 1  # first use: written and audited
    assert not use(start + timedelta(seconds=30)) and audited() == 1  # counted only
    assert use(start + timedelta(seconds=61)) and audited() == 1  # a minute on: written
    assert use(start + timedelta(seconds=70), ip="198.51.100.7") and audited() == 2  # new place
    assert use(start + timedelta(minutes=60), ip="198.51.100.7") and audited() == 3  # new hour
    assert use(start + timedelta(minutes=60, seconds=1), ip="198.51.100.7",
               method="POST") and audited() == 4  # every action
    key = db.session.query(ApiKey).filter_by(customer_id=api.customer.id).one()
    assert key.use_count == 6 and key.last_used_ip == "198.51.100.7"
    assert key.last_used_at == start + timedelta(minutes=60, seconds=1)


def test_rate_limit_answers_429_with_retry_after(api, app):
    app.config["CUSTAPI_RATE_LIMIT"] = 3
    answers = [api.get("/balance").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    limited = api.get("/balance")
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.get_json()["status"] == 429


def test_problem_detail_follows_accept_language(api):
    fr = api.get("/invoices/999999", headers={"Accept-Language": "fr"}).get_json()
    en = api.get("/invoices/999999", headers={"Accept-Language": "en"}).get_json()
    assert en["detail"] == "No such record on your account."
    assert fr["status"] == en["status"] == 404 and fr["type"] == en["type"]
