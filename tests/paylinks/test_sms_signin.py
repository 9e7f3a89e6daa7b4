"""Sign in with a code by SMS: confirmed mobiles only, same answer for unknown numbers, short
single-use code, limited tries, rate limits per number and per IP."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from app.core.audit_models import AuditEvent
from app.extensions import db
from app.notifications.models import Message
from tests.helpers import make_customer
from tests.notifications.received import received_text
from tests.paylinks.conftest import csrf_from

NUMBER = "+32470123456"


def _ask(client, typed: str):
    page = client.get("/portal/login-sms").get_data(as_text=True)
    return client.post("/portal/login-sms", data={"csrf_token": csrf_from(page), "phone": typed})


def _code_sent_to(number: str) -> str | None:
    message = db.session.scalars(select(Message).where(
        Message.recipient == number, Message.event == "sms_confirmation_code")
        .order_by(Message.id.desc())).first()
    if message is None:
        return None
    assert re.search(r"\d{6}", message.body_text) is None  # the stored copy hides the code
    return re.search(r"\b(\d{6})\b", received_text(message)).group(1)


def _type(client, code: str):
    page = client.get("/portal/login-sms/code").get_data(as_text=True)
    return client.post("/portal/login-sms/code", data={"csrf_token": csrf_from(page),
                                                       "code": code})


def _phone_customer(**fields):
    data = {"language": "fr", "email": None, "phone": NUMBER, "sms_reminders": True}
    data.update(fields)
    return make_customer(**data)


def test_a_phone_only_customer_signs_in_with_the_code(fresh_client):
    customer = _phone_customer(name="Téléphone Seul")
    client = fresh_client()
    asked = _ask(client, "0470 12 34 56")
    assert asked.status_code == 302 and asked.headers["Location"] == "/portal/login-sms/code"
    code = _code_sent_to(NUMBER)
    assert code is not None
    page = client.get("/portal/login-sms/code").get_data(as_text=True)
    assert "+32 ••• •• 34 56" in page
    done = _type(client, code)
    assert done.status_code == 302 and done.headers["Location"] == "/portal/"
    assert customer.name in client.get("/portal/").get_data(as_text=True)
    # Single use: the same code again, in another browser, opens nothing.
    other = fresh_client()
    _ask(other, NUMBER)
    assert _type(other, code).status_code == 400


def test_unknown_and_unconfirmed_numbers_get_the_same_answer_and_no_sms(fresh_client):
    make_customer(phone="+32470999888", sms_reminders=False)  # number never confirmed
    for typed in ("+32 470 99 98 88", "+32 470 55 44 33"):
        client = fresh_client()
        asked = _ask(client, typed)
        assert asked.status_code == 302 and asked.headers["Location"] == "/portal/login-sms/code"
        assert _type(client, "123456").status_code == 400
    assert db.session.scalar(select(func.count(Message.id))) == 0
    refused = db.session.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.entity == "sms_sign_in", AuditEvent.action == "refused"))
    assert refused == 2


def test_not_a_number_is_said_and_changes_nothing(fresh_client):
    client = fresh_client()
    for typed in ("", "hello", "12", "+" + "9" * 39):
        answer = _ask(client, typed)
        assert answer.status_code == 400 and "Not a valid phone number" in answer.get_data(
            as_text=True)
    assert db.session.scalar(select(func.count(Message.id))) == 0


def test_wrong_tries_are_limited_per_code(fresh_client):
    _phone_customer()
    client = fresh_client()
    _ask(client, NUMBER)
    code = _code_sent_to(NUMBER)
    wrong = "000000" if code != "000000" else "111111"
    for _n in range(5):
        assert _type(client, wrong).status_code == 400
    assert _type(client, code).status_code == 400  # the right code, too late
    assert client.get("/portal/").status_code == 302


def test_a_new_code_ends_the_older_one(fresh_client):
    _phone_customer()
    client = fresh_client()
    _ask(client, NUMBER)
    first = _code_sent_to(NUMBER)
    db.session.query(Message).delete()
    db.session.commit()
    _ask(client, NUMBER)
    second = _code_sent_to(NUMBER)
    if first != second:
        assert _type(client, first).status_code == 400
    assert _type(client, second).status_code == 302


def test_asking_is_limited_per_number(fresh_client):
    _phone_customer()
    statuses = []
    for _n in range(7):
        statuses.append(_ask(fresh_client(), NUMBER).status_code)
    assert statuses[:5] == [302] * 5 and statuses[-1] == 429


def test_code_page_without_a_number_goes_back(fresh_client):
    answer = fresh_client().get("/portal/login-sms/code")
    assert answer.status_code == 302 and answer.headers["Location"] == "/portal/login-sms"


def test_login_page_offers_sms(fresh_client):
    html = fresh_client().get("/portal/login").get_data(as_text=True)
    assert "/portal/login-sms" in html
