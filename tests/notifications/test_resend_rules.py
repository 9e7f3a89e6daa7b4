""""Send again" is one rule (app.notifications.jobs.resend_failed): only failed messages, never
one whose sign-in link or code was wiped; the Messages screen calls it."""
from __future__ import annotations

from app.extensions import db
from app.notifications.jobs import resend_failed
from app.notifications.models import Message
from tests.helpers import csrf_for, make_customer


def _message(customer, key: str, status: str, event: str = "payment_received") -> Message:
    message = Message(customer=customer, channel="email", recipient="a@example.test",
                      language="fr", event=event, subject="S", body_text="B",
                      idempotency_key=key, status=status, attempts=5)
    db.session.add(message)
    return message


def test_resend_failed_queues_only_failed_messages_without_a_secret():
    customer = make_customer()
    failed = _message(customer, "k1", "failed")
    sent = _message(customer, "k2", "sent")
    secret = _message(customer, "k3", "failed", event="magic_link")
    db.session.commit()
    assert resend_failed([failed, sent, secret, None]) == (1, 1, 2)
    assert failed.status == "queued" and failed.attempts == 0
    assert sent.status == "sent" and secret.status == "failed"


def test_the_send_again_action_leaves_a_sent_message_alone(staff_client):
    customer = make_customer()
    sent = _message(customer, "k2", "sent")
    secret = _message(customer, "k3", "failed", event="magic_link")
    db.session.commit()
    client = staff_client("AR clerk")
    response = client.post("/messageview/action_post", data={
        "action": "resend", "rowid": [str(sent.id), str(secret.id)],
        "csrf_token": csrf_for(client)})
    assert response.status_code == 302
    page = client.get("/messageview/list/").get_data(as_text=True)
    assert "were not failed and were left as they are" in page
    assert "carried a sign-in link or a code" in page
    db.session.expire_all()
    assert db.session.get(Message, sent.id).status == "sent"
    assert db.session.get(Message, secret.id).status == "failed"
