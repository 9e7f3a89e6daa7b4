"""E-mail through a real SMTP server on loopback: exactly once, retries, failures, attachments."""
from __future__ import annotations

import socket
from datetime import timedelta

from sqlalchemy import func, select

from app.core.models import utcnow
from app.extensions import db
from app.notifications.channels import message_id_for
from app.notifications.jobs import deliver_due_messages, deliver_message
from app.notifications.models import Message
from app.notifications.outbox import queue_message
from tests.helpers import csrf_for, make_customer, make_invoice
from tests.notifications.conftest import configure_plugin


def _queue(customer, key="event-1", event="payment_received", **kwargs):
    from app.notifications.events import preview_context

    messages = queue_message(customer, event=event, template_key="payment_received",
                             context=preview_context("payment_received", customer),
                             idempotency_key=key, **kwargs)
    db.session.commit()
    return messages


def test_mail_is_delivered_once_with_text_html_and_a_stable_message_id(use_smtp):
    customer = make_customer(name="Sophie Martin", email="sophie@example.test")
    [message] = _queue(customer)
    db.session.refresh(message)
    assert message.status == "sent" and message.provider == "email_smtp"
    [mail] = use_smtp.handler.messages
    assert mail["To"] == "sophie@example.test"
    assert mail["Message-ID"] == message_id_for("event-1:email", "localhost", message.id)
    assert message.provider_message_id == mail["Message-ID"]
    assert mail.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in mail.walk()]
    assert "text/plain" in kinds and "text/html" in kinds
    assert mail["Subject"].startswith("Merci pour votre paiement")
    # A thank-you is not mandatory: the customer can unsubscribe from it.
    assert "/portal/preferences" in mail["List-Unsubscribe"]

    # Delivering again, or the same event again, sends nothing more.
    assert deliver_message(message.id) == "skipped"
    assert _queue(customer)[0].id == message.id
    assert db.session.scalar(select(func.count(Message.id))) == 1
    assert len(use_smtp.handler.messages) == 1


def test_mandatory_mail_has_no_unsubscribe_header(use_smtp):
    _queue(make_customer(), event="contract_renewal")
    assert use_smtp.handler.messages[0]["List-Unsubscribe"] is None


def test_invoice_pdfs_are_attached(use_smtp):
    customer = make_customer()
    invoice = make_invoice(customer, total="80.00")
    _queue(customer, attachments=[{"invoice_id": invoice.id}])
    [mail] = use_smtp.handler.messages
    pdfs = [part for part in mail.walk() if part.get_content_type() == "application/pdf"]
    assert [p.get_filename() for p in pdfs] == [f"{invoice.number}.pdf"]
    assert pdfs[0].get_payload(decode=True).startswith(b"%PDF")


def test_transient_error_retries_later_with_backoff(use_smtp):
    use_smtp.handler.reply = "421 4.3.2 Service not available, try later"
    before = utcnow()
    [message] = _queue(make_customer())
    db.session.refresh(message)
    assert message.status == "queued" and message.attempts == 1
    assert "421" in message.error
    assert message.next_attempt_at >= before + timedelta(seconds=55)

    use_smtp.handler.reply = None
    assert deliver_due_messages() == 0  # not due yet: the back-off is respected
    assert deliver_message(message.id) == "skipped"
    message.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert deliver_due_messages() == 1
    db.session.refresh(message)
    assert message.status == "sent" and message.attempts == 2 and message.error is None
    assert len(use_smtp.handler.messages) == 1


def test_connection_refused_is_transient(defaults):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configure_plugin("email_smtp", host="127.0.0.1", port=port)
    [message] = _queue(make_customer())
    db.session.refresh(message)
    assert message.status == "queued" and "unreachable" in message.error


def test_backoff_grows_and_gives_up_after_max_attempts(use_smtp):
    from app.core.settings import set_setting

    set_setting("notifications.max_attempts", 3)
    db.session.commit()
    use_smtp.handler.reply = "451 4.7.1 Greylisted"
    [message] = _queue(make_customer())
    delays = []
    for _ in range(2):
        db.session.refresh(message)
        delays.append(message.next_attempt_at - utcnow())
        message.next_attempt_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        deliver_due_messages()
    db.session.refresh(message)
    assert delays[1] > delays[0]
    assert message.status == "failed" and message.attempts == 3
    assert "gave up after 3 attempts" in message.error


def test_permanent_error_fails_visibly_and_staff_resend_it(use_smtp, staff_client):
    use_smtp.handler.reply = "550 5.1.1 <nobody@example.test>: Recipient address rejected"
    [message] = _queue(make_customer(email="nobody@example.test"))
    db.session.refresh(message)
    assert message.status == "failed" and "550" in message.error
    assert use_smtp.handler.messages == []

    client = staff_client("AR clerk")
    page = client.get("/messageview/list/?_flt_0_status=failed").get_data(as_text=True)
    assert "Recipient address rejected" in page
    assert "nobody@example.test" in client.get(f"/messageview/show/{message.id}").get_data(
        as_text=True)

    use_smtp.handler.reply = None  # the address was fixed on the mail server's side
    response = client.post("/messageview/action_post",
                           data={"action": "resend", "rowid": [str(message.id)],
                                 "csrf_token": csrf_for(client)})
    assert response.status_code == 302
    db.session.refresh(message)
    assert message.status == "sent"
    [mail] = use_smtp.handler.messages
    assert mail["Message-ID"] == message_id_for(message.idempotency_key, "localhost",
                                                message.id)


def test_read_only_staff_cannot_resend(use_smtp, staff_client):
    use_smtp.handler.reply = "550 no"
    [message] = _queue(make_customer())
    client = staff_client("Read-only")
    client.post("/messageview/action_post", data={"action": "resend", "rowid": [str(message.id)]})
    db.session.refresh(message)
    assert message.status == "failed"


def test_a_message_stuck_in_sending_is_sent_again_with_the_same_message_id(use_smtp):
    customer = make_customer()
    [message] = _queue(customer)
    first = use_smtp.handler.messages[0]["Message-ID"]
    # As if a worker had been killed while handing it to the server.
    message.status = "sending"
    message.sending_started_at = utcnow() - timedelta(minutes=11)
    db.session.commit()
    assert deliver_due_messages() == 1
    db.session.refresh(message)
    assert message.status == "sent"
    assert [m["Message-ID"] for m in use_smtp.handler.messages] == [first, first]


def test_recent_sending_is_left_alone_by_the_sweep(use_smtp):
    [message] = _queue(make_customer())
    message.status = "sending"
    message.sending_started_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert deliver_due_messages() == 0
    db.session.refresh(message)
    assert message.status == "sending"


def test_a_queued_message_whose_job_was_lost_is_found_by_the_sweep(use_smtp, app, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_MODE", "rq")
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")  # nobody there
    [message] = _queue(make_customer())  # the enqueue fails; the row is safe
    db.session.refresh(message)
    assert message.status == "queued"
    monkeypatch.setitem(app.config, "JOBS_MODE", "sync")
    assert deliver_due_messages() == 1
    db.session.refresh(message)
    assert message.status == "sent"


def test_a_reminder_whose_invoices_were_paid_before_it_left_is_withdrawn(use_smtp):
    """The SMTP server was down when the reminder was queued; the customer paid meanwhile: the
    retry does not ask them for money already paid."""
    from app.core.time import business_today
    from app.dunning.models import DunningAction, DunningLevel, DunningPolicy, DunningRun
    from app.payments.services import clean_payment, post_payment

    today = business_today()
    customer = make_customer(name="Sophie Martin", email="sophie@example.test")
    paid_meanwhile = make_invoice(customer, total="80.00", due_in_days=-20)
    still_open = make_invoice(customer, total="30.00", due_in_days=-20)
    policy = DunningPolicy(name="BE consumers", segment="consumer", country="BE")
    level = DunningLevel(policy=policy, sequence=1, name="Friendly", days_after_due=7,
                         template_key="payment_received", channels="email")
    run = DunningRun(run_date=today, status="done", counts={})
    db.session.add_all([policy, level, run])
    db.session.flush()

    def remind(invoices, day):
        db.session.add(DunningAction(run=run, run_date=day, customer=customer, level=level,
                                     invoice_ids=[i.id for i in invoices]))
        use_smtp.handler.reply = "421 4.3.2 Service not available, try later"
        [message] = _queue(customer, key=f"dunning:{day.isoformat()}:{customer.id}",
                           event="dunning.friendly")
        db.session.refresh(message)
        assert message.status == "queued"  # waiting for its retry
        use_smtp.handler.reply = None
        message.next_attempt_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        return message

    moot = remind([paid_meanwhile], today)
    still_due = remind([paid_meanwhile, still_open], today - timedelta(days=1))
    post_payment(clean_payment({"customer_number": customer.number, "amount": "80.00",
                                "reference": paid_meanwhile.number,
                                "received_on": today.isoformat()}))
    db.session.commit()
    sent_before = len(use_smtp.handler.messages)  # the thank-you for the payment
    deliver_due_messages()
    db.session.refresh(moot)
    db.session.refresh(still_due)
    assert moot.status == "withdrawn" and moot.sent_at is None
    # One of its invoices is still open: that reminder still goes.
    assert still_due.status == "sent"
    assert len(use_smtp.handler.messages) == sent_before + 1
