"""Channel choice follows the customer; local mailbox, letters, SMS (Vonage API) and webhooks."""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from app.customers.models import Contact
from app.extensions import db
from app.notifications.events import preview_context
from app.notifications.models import Message, PrintBatch
from app.notifications.outbox import queue_message
from app.notifications.print_batches import batch_files
from tests.helpers import csrf_for, make_customer, make_invoice
from tests.notifications.conftest import configure_plugin
from tests.notifications.received import received_text


def _queue(customer, template_key="payment_received", key="evt", **kwargs):
    messages = queue_message(customer, event=template_key, template_key=template_key,
                             context=preview_context(template_key, customer),
                             idempotency_key=key, **kwargs)
    db.session.commit()
    for message in messages:
        db.session.refresh(message)
    return messages


class FakeHttp:
    """A local HTTP server answering each POST with the next queued (status, body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        self.answers: list[tuple[int, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests.append((dict(self.headers), body))
                status, payload = fake.answers.pop(0) if fake.answers else (200, {})
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_http():
    server = FakeHttp()
    yield server
    server.close()


# --- which channel, which address, which language ----------------------------------------------

def test_without_smtp_mail_goes_to_the_local_mailbox(defaults, staff_client, capsys):
    customer = make_customer(name="Lucie Leroy")
    [message] = _queue(customer, template_key="request_received")
    assert message.status == "sent" and message.provider == "local_mailbox"
    printed = capsys.readouterr().out
    assert f"/mailboxview/show/{message.id}" in printed and "/portal/" in printed

    client = staff_client("AR clerk")
    listing = client.get("/mailboxview/list/").get_data(as_text=True)
    assert message.subject in listing
    page = client.get(f"/mailboxview/show/{message.id}").get_data(as_text=True)
    assert "Lucie Leroy" in page and "<iframe sandbox" in page


def test_paper_customer_gets_a_letter_in_a_print_batch(defaults, staff_client):
    customer = make_customer(name="Albert Lambert", delivery_channel="paper",
                             address_line1="Rue Haute 12", postal_code="1000", city="Bruxelles")
    invoice = make_invoice(customer)
    [message] = _queue(customer, attachments=[{"invoice_id": invoice.id}])
    assert message.channel == "letter" and message.status == "sent"
    assert "Rue Haute 12" in message.recipient
    batch = db.session.scalar(select(PrintBatch))
    assert message.print_batch_id == batch.id and batch.status == "open"
    store, prefix = batch_files(batch)  # the shared file store, not a host's own folder
    assert batch.folder == f"letters/{batch.name}"
    letter = store.get(f"{prefix}{message.id:08d}.pdf")
    assert letter.startswith(b"%PDF")

    from pypdf import PdfReader

    text = PdfReader(io.BytesIO(letter)).pages[0].extract_text()
    assert "Albert Lambert" in text and "Rue Haute 12" in text and "Merci" in text

    client = staff_client("AR clerk")
    response = client.post(f"/printbatchview/zip/{batch.id}",
                           data={"csrf_token": csrf_for(client)})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    assert f"{message.id:08d}.pdf" in names and "manifest.csv" in names
    assert f"{message.id:08d}-enclosure-{invoice.number}.pdf" in names
    assert customer.number in archive.read("manifest.csv").decode()

    client.post("/printbatchview/action_post", data={"action": "close", "rowid": [str(batch.id)],
                                                     "csrf_token": csrf_for(client)})
    db.session.refresh(batch)
    assert batch.status == "closed"
    [later] = _queue(customer, key="evt-2")
    assert later.print_batch_id != batch.id  # a new batch collects the next letters


def test_a_reminder_letter_paid_before_the_batch_goes_to_print_is_taken_out(defaults,
                                                                           staff_client):
    """The letter waits in the open batch until staff download it; the customer pays the
    reminded invoice meanwhile: the download leaves it out (and says so), the message is
    "withdrawn" and its PDF deleted. A letter about an invoice still open stays in."""
    from app.core.time import business_today
    from app.dunning.models import DunningAction, DunningLevel, DunningPolicy, DunningRun
    from app.payments.services import clean_payment, post_payment

    today = business_today()
    policy = DunningPolicy(name="BE consumers", segment="consumer", country="BE")
    level = DunningLevel(policy=policy, sequence=1, name="Friendly", days_after_due=7,
                         template_key="payment_received", channels="letter")
    run = DunningRun(run_date=today, status="done", counts={})
    db.session.add_all([policy, level, run])

    def reminded(name):
        customer = make_customer(name=name, delivery_channel="paper",
                                 address_line1="Rue Haute 12", postal_code="1000",
                                 city="Bruxelles")
        invoice = make_invoice(customer, total="45.00", due_in_days=-20)
        db.session.add(DunningAction(run=run, run_date=today, customer=customer, level=level,
                                     invoice_ids=[invoice.id]))
        messages = queue_message(customer, event="dunning.friendly",
                                 template_key="payment_received",
                                 context=preview_context("payment_received", customer),
                                 idempotency_key=f"dunning:{today.isoformat()}:{customer.id}")
        db.session.commit()
        [letter] = messages
        assert letter.channel == "letter" and letter.status == "sent"
        return customer, invoice, letter

    payer, paid, moot = reminded("Paid Meanwhile")
    _late, _open, still_due = reminded("Still Late")
    batch = db.session.scalar(select(PrintBatch))
    store, prefix = batch_files(batch)
    moot_pdf = f"{prefix}{moot.id:08d}.pdf"
    assert store.exists(moot_pdf)
    post_payment(clean_payment({"customer_number": payer.number, "amount": "45.00",
                                "reference": paid.number, "received_on": today.isoformat()}))
    db.session.commit()

    client = staff_client("AR clerk")
    names = zipfile.ZipFile(io.BytesIO(client.post(
        f"/printbatchview/zip/{batch.id}", data={"csrf_token": csrf_for(client)}).data)).namelist()
    assert f"{still_due.id:08d}.pdf" in names and f"{moot.id:08d}.pdf" not in names
    db.session.expire_all()
    moot = db.session.get(Message, moot.id)
    assert moot.status == "withdrawn" and moot.print_batch_id is None
    assert not store.exists(moot_pdf)
    assert db.session.get(Message, still_due.id).status == "sent"
    page = client.get("/printbatchview/list/").get_data(as_text=True)
    assert "taken out of batch" in page  # the flash after the download


def test_sms_only_with_the_customers_opt_in(defaults):
    without = make_customer(phone="+32470123456", sms_reminders=False)
    with_opt_in = make_customer(phone="+32470123457", sms_reminders=True)
    assert [m.channel for m in _queue(without, channels=["email", "sms"])] == ["email"]
    assert sorted(m.channel for m in _queue(with_opt_in, channels=["email", "sms"])) == [
        "email", "sms"]


def test_sms_without_an_enabled_gateway_waits_and_says_why(defaults, app, monkeypatch):
    # Deployed (not the embedded default, where the local mailbox takes SMS too).
    monkeypatch.setitem(app.config, "PUBLIC_URL_REQUIRED", True)
    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://creditdesk.example.test")
    customer = make_customer(phone="+32470123457", sms_reminders=True)
    sms = next(m for m in _queue(customer, channels=["sms"]) if m.channel == "sms")
    assert sms.status == "queued" and "no enabled and configured plugin" in sms.error


def test_sms_through_the_vonage_api(defaults, fake_http, monkeypatch):
    monkeypatch.setenv("CREDITDESK_PLUGIN_SMS_GATEWAY_API_KEY", "key123")
    monkeypatch.setenv("CREDITDESK_PLUGIN_SMS_GATEWAY_API_SECRET", "secret456")
    configure_plugin("sms_gateway", base_url=fake_http.url, sender="ACME")
    fake_http.answers.append((200, {"message-count": "1", "messages": [
        {"to": "32470123457", "message-id": "0A0000000123ABCD1", "status": "0"}]}))
    customer = make_customer(phone="+32 470 12 34 57", sms_reminders=True, language="nl")
    [sms] = _queue(customer, channels=["sms"])
    assert sms.status == "sent" and sms.provider_message_id == "0A0000000123ABCD1"
    _headers, body = fake_http.requests[0]
    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    assert form["to"] == "32470123457" and form["from"] == "ACME"
    assert form["api_key"] == "key123" and form["api_secret"] == "secret456"
    assert form["client-ref"] == sms.idempotency_key[:40]
    assert form["text"].startswith("CreditDesk Demo SA: bedankt")


@pytest.mark.parametrize("status, outcome", [("4", "failed"), ("1", "queued")])
def test_sms_gateway_errors(defaults, fake_http, monkeypatch, status, outcome):
    monkeypatch.setenv("CREDITDESK_PLUGIN_SMS_GATEWAY_API_KEY", "key")
    monkeypatch.setenv("CREDITDESK_PLUGIN_SMS_GATEWAY_API_SECRET", "wrong")
    configure_plugin("sms_gateway", base_url=fake_http.url)
    fake_http.answers.append((200, {"messages": [
        {"status": status, "error-text": "Bad Credentials" if status == "4" else "Throttled"}]}))
    [sms] = _queue(make_customer(phone="+32470123457", sms_reminders=True), channels=["sms"])
    assert sms.status == outcome and f"status {status}" in sms.error


def test_reminder_contact_gets_dunning_mail(defaults):
    customer = make_customer(email="office@example.test")
    db.session.add(Contact(customer=customer, name="Paul Reminder", role="reminder",
                           email="reminders@example.test"))
    db.session.commit()
    [dunning] = _queue(customer, key="dunning", dunning=True)
    [other] = _queue(customer, key="other")
    assert dunning.recipient == "reminders@example.test"
    assert other.recipient == "office@example.test"


def test_language_follows_the_customer(defaults):
    subjects = {}
    for language in ("fr", "nl", "en"):
        [message] = _queue(make_customer(language=language), key=f"lang-{language}")
        subjects[language] = message.subject
        assert message.language == language
    assert subjects["fr"].startswith("Merci")
    assert subjects["nl"].startswith("Bedankt")
    assert subjects["en"].startswith("Thank you")


def test_a_login_link_goes_by_email_even_to_a_paper_customer(defaults):
    from app.notifications.services import notify_magic_link

    customer = make_customer(delivery_channel="paper", language="nl",
                             address_line1="Kerkstraat 1", postal_code="9000", city="Gent")
    contact = Contact(customer=customer, name="An", role="billing", email="an@example.test",
                      language="en")
    db.session.add(contact)
    db.session.commit()
    [message] = notify_magic_link(customer, contact, "http://127.0.0.1:5000/portal/login/abc")
    db.session.commit()
    assert message.channel == "email" and message.recipient == "an@example.test"
    assert message.language == "en" and "/portal/login/abc" in received_text(message)
    assert "/portal/login/abc" not in message.body_text  # staff see the link hidden


# --- webhooks ---------------------------------------------------------------------------------

def test_signed_webhook(defaults, fake_http, monkeypatch):
    from app.core.settings import set_setting

    monkeypatch.setenv("CREDITDESK_PLUGIN_WEBHOOK_SECRET", "s3cret")
    configure_plugin("webhook", url=fake_http.url + "/hooks/creditdesk")
    set_setting("notifications.webhook_events", "payment_received")
    db.session.commit()
    customer = make_customer()
    messages = _queue(customer)
    hook = next(m for m in messages if m.channel == "webhook")
    assert hook.status == "sent"
    headers, body = fake_http.requests[0]
    expected = "sha256=" + hmac.new(b"s3cret", headers["X-CreditDesk-Timestamp"].encode()
                                    + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-CreditDesk-Signature"] == expected
    assert headers["Idempotency-Key"] == hook.idempotency_key
    payload = json.loads(body)
    assert payload["event"] == "payment_received" and payload["customer"] == customer.number


def test_webhook_server_error_is_retried_client_error_fails(defaults, fake_http, monkeypatch):
    monkeypatch.setenv("CREDITDESK_PLUGIN_WEBHOOK_SECRET", "s3cret")
    configure_plugin("webhook", url=fake_http.url)
    fake_http.answers += [(503, {}), (404, {})]
    customer = make_customer()
    [first] = _queue(customer, channels=["webhook"], key="a")
    [second] = _queue(customer, channels=["webhook"], key="b")
    assert first.status == "queued" and "503" in first.error
    assert second.status == "failed" and "404" in second.error


def test_no_message_without_an_address(defaults):
    customer = make_customer(email=None, delivery_channel="email")
    assert _queue(customer) == []  # no e-mail and no postal address: nothing to send to
    assert db.session.scalar(select(Message)) is None
