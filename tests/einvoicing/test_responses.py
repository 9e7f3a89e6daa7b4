"""Invoice responses in: each code's effect on the next dunning run, review, replays, webhook."""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from app.core.plugins import discover, get_plugin, plugin_config
from app.core.validation import ValidationError
from app.customers.timeline import customer_timeline
from app.dunning.engine import evaluate
from app.einvoicing.models import EDocument
from app.einvoicing.responses import receive_response
from app.einvoicing.webhook import signature
from app.extensions import db
from app.requests.models import CustomerRequest, Dispute
from tests.dunning.conftest import business as dunning_business
from tests.dunning.conftest import day, overdue, today
from tests.einvoicing.conftest import EXAMPLES
from tests.einvoicing.fake_einvoice_be import FakeEInvoiceBe

pytestmark = pytest.mark.usefixtures("defaults")
RESPONSES = EXAMPLES / "invoice-response"
FILES = {"UQ": "T111-uc006a-Under query missing information.xml",
         "RE": "T111-uc004a-Invoice is rejected.xml",
         "PD": "T111-uc007-Payment has been initiated.xml",
         "AP": "T111-uc003-Invoice is accepted.xml",
         "IP": "T111-uc001-Invoice in process.xml"}


@pytest.fixture
def defaults():
    from app.dunning.defaults import install_defaults
    from app.notifications.defaults import install_defaults as install_message_templates

    install_message_templates()
    install_defaults()


def response_for(code: str, invoice_number: str, response_id: str | None = None) -> bytes:
    """An official example of that code, answering our invoice."""
    text = (RESPONSES / FILES[code]).read_text(encoding="utf-8")
    text = text.replace("<cbc:ID>inv021</cbc:ID>", f"<cbc:ID>{invoice_number}</cbc:ID>")
    text = text.replace("<cbc:ID>imrid001</cbc:ID>",
                        f"<cbc:ID>{response_id or 'r-' + invoice_number}</cbc:ID>", 1)
    return text.encode()


def listed(customer) -> list[int]:
    [decision] = evaluate(today(), customer_ids=[customer.id]).decisions
    return [i.invoice.id for i in decision.listed]


def test_each_response_code_acts_on_the_next_dunning_run(app):
    invoices = {}
    for code in FILES:
        customer = dunning_business(name=f"Buyer {code}")
        invoices[code] = overdue(customer, 30, total="500.00")
        assert listed(customer) == [invoices[code].id]
    for code, invoice in invoices.items():
        document = receive_response(response_for(code, invoice.number))
        db.session.commit()
        assert (document.status, document.ap_status, document.invoice_id) == \
            ("applied", code, invoice.id)

    # Under query and rejected: a dispute with the buyer's reason; reminders stop at once.
    for code in ("UQ", "RE"):
        invoice = invoices[code]
        dispute = db.session.scalar(select(Dispute).where(Dispute.invoice_id == invoice.id))
        assert dispute.status == "open" and dispute.amount == invoice.open_amount
        request = db.session.get(CustomerRequest, dispute.request_id)
        assert request.channel == "peppol" and request.status == "received"
        assert listed(invoice.customer) == []
    uq = db.session.scalar(select(Dispute).where(Dispute.invoice_id == invoices["UQ"].id))
    assert "BT-13: PO0001" in uq.text and "Under query" in uq.text

    # Paid: held for the set number of days (10 by default), then reminded again.
    paid = invoices["PD"]
    assert listed(paid.customer) == []
    [later] = evaluate(day(11), customer_ids=[paid.customer_id]).decisions
    assert [i.invoice.id for i in later.listed] == [paid.id]

    # Accepted / in process: reminders go on; the customer's timeline shows the answer.
    for code in ("AP", "IP"):
        invoice = invoices[code]
        assert listed(invoice.customer) == [invoice.id]
        events = customer_timeline(invoice.customer_id, kinds={"e_invoice"}).events
        assert [e.status for e in events] == [code]
        assert invoice.number in events[0].title


def test_an_answer_about_an_unknown_invoice_is_kept_for_review(app):
    document = receive_response(response_for("UQ", "NOT-OURS-1"))
    db.session.commit()
    assert document.status == "review" and document.customer_id is None
    assert "NOT-OURS-1" in document.note
    assert db.session.scalar(select(func.count()).select_from(Dispute)) == 0


def test_the_same_response_twice_is_applied_once(app):
    invoice = overdue(dunning_business(), 30)
    first = receive_response(response_for("RE", invoice.number), schematron=False)
    again = receive_response(response_for("RE", invoice.number), schematron=False)
    db.session.commit()
    assert again.id == first.id
    assert db.session.scalar(select(func.count()).select_from(Dispute)) == 1


def test_an_invalid_response_names_its_problem_and_changes_nothing(app):
    invoice = overdue(dunning_business(), 30)
    broken = response_for("UQ", invoice.number).replace(b">UQ<", b">XX<")
    with pytest.raises(ValidationError) as refused:
        receive_response(broken)
    assert "ResponseCode" in refused.value.errors
    # Schema-valid but against the T111 rules: RE without any reason code.
    text = response_for("RE", invoice.number).decode()
    start, end = text.index("<cac:Status>"), text.rindex("</cac:Status>") + len("</cac:Status>")
    with pytest.raises(ValidationError) as refused:
        receive_response((text[:start] + text[end:]).encode())
    assert any(key.startswith("PEPPOL-T111") for key in refused.value.errors)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(EDocument)) == 0


@pytest.fixture
def access_point(app, monkeypatch):
    fake = FakeEInvoiceBe(api_key="k-123").start()
    discover(refresh=True)
    row = plugin_config(get_plugin("peppol_einvoice_be"))
    row.enabled, row.settings = True, {"base_url": fake.url, "timeout": 5}
    db.session.commit()
    monkeypatch.setenv("CREDITDESK_PLUGIN_PEPPOL_EINVOICE_BE_API_KEY", "k-123")
    monkeypatch.setenv("CREDITDESK_PLUGIN_PEPPOL_EINVOICE_BE_WEBHOOK_SECRET", "s3cret")
    yield fake
    fake.stop()


def _call(client, payload, secret="s3cret"):
    return client.post("/einvoicing/webhook", data=json.dumps(payload),
                       headers={"Content-Type": "application/json",
                                "X-Signature": signature(secret, payload)})


def test_the_webhook_takes_a_signed_fresh_call_and_refuses_forged_stale_and_replayed(
        app, client, access_point):
    invoice = overdue(dunning_business(), 30)
    access_point.files["r1.xml"] = response_for("UQ", invoice.number)
    payload = {"id": "evt-1", "type": "document.received", "timestamp": int(time.time()),
               "document": {"id": "doc-9", "name": "r1.xml", "type": "application/xml",
                            "url": f"{access_point.url}/files/r1.xml"}}

    assert _call(client, payload, secret="guessed").status_code == 401  # forged
    stale = {**payload, "id": "evt-0", "timestamp": int(time.time()) - 3600}
    assert _call(client, stale).status_code == 401
    assert db.session.scalar(select(func.count()).select_from(Dispute)) == 0

    response = _call(client, payload)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "applied"
    assert db.session.scalar(select(func.count()).select_from(Dispute)) == 1
    assert _call(client, payload).status_code == 401  # the same call replayed

    elsewhere = {**payload, "id": "evt-2",
                 "document": {**payload["document"], "url": "http://127.0.0.2:9/files/r1.xml"}}
    assert _call(client, elsewhere).status_code == 400  # never fetched from another host


def test_staff_can_upload_a_response_in_the_admin(app, staff_client):
    import io

    from tests.helpers import csrf_for

    invoice = overdue(dunning_business(), 30)
    client = staff_client("AR clerk")
    response = client.post("/einvoicing/import/", data={
        "csrf_token": csrf_for(client),
        "file": (io.BytesIO(response_for("RE", invoice.number, "up-1")), "answer.xml")},
        content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    dispute = db.session.scalar(select(Dispute).where(Dispute.invoice_id == invoice.id))
    assert dispute is not None and dispute.status == "open"


def test_the_webhook_reads_the_documented_event_shape_with_an_iso_timestamp(
        app, client, access_point):
    from datetime import UTC, datetime, timedelta

    invoice = overdue(dunning_business(), 30)
    access_point.files["r2.xml"] = response_for("RE", invoice.number, "iso-1")
    now = datetime.now(UTC)
    payload = {"id": "evt-iso", "type": "document.received", "timestamp": now.isoformat(),
               "data": {"document": {"id": "doc-7", "name": "r2.xml",
                                     "url": f"{access_point.url}/files/r2.xml"}}}
    stale = {**payload, "id": "evt-iso-old",
             "timestamp": (now - timedelta(hours=1)).isoformat()}
    assert _call(client, stale).status_code == 401
    response = _call(client, payload)
    assert response.status_code == 200, response.get_json()
    assert db.session.scalar(select(Dispute.invoice_id)) == invoice.id
    sent = {**payload, "id": "evt-sent", "type": "document.sent", "data": {"id": "doc-8"}}
    assert _call(client, sent).get_json()["message"] == "ignored"


def test_the_inbox_poll_takes_each_received_document_once(app, access_point):
    from app.einvoicing.jobs import INBOX_MARKER, poll_access_point_inbox

    first, second = overdue(dunning_business(name="A"), 30), overdue(dunning_business(name="B"), 30)
    access_point.inbox["doc_1"] = response_for("UQ", first.number, "poll-1")
    access_point.inbox["doc_2"] = (EXAMPLES / "billing" / "base-example.xml").read_bytes()
    access_point.inbox["doc_3"] = b"<not-closed>"

    access_point.fail_next = [503]  # the access point is down: nothing taken, nothing lost
    assert poll_access_point_inbox() == 0
    assert db.session.scalar(select(func.count()).select_from(EDocument)) == 0

    assert poll_access_point_inbox() == 3
    markers = {d.number: d for d in db.session.scalars(
        select(EDocument).where(EDocument.doc_type == INBOX_MARKER))}
    assert {k: m.status for k, m in markers.items()} == {
        "doc_1": "applied", "doc_2": "applied", "doc_3": "review"}
    assert markers["doc_1"].invoice_id == first.id and "file" in markers["doc_3"].failed_rules
    assert db.session.scalar(select(Dispute.invoice_id)) == first.id
    # The file store was read by its signed address, without our API key (the fake refuses
    # a key there), once per document.
    assert sorted(access_point.signed_reads) == ["doc_1", "doc_2", "doc_3"]

    # Next tick: nothing new is fetched again; a new answer is taken, and the same answer
    # arriving a second time under another access-point id is applied once.
    assert poll_access_point_inbox() == 0
    access_point.inbox["doc_4"] = response_for("RE", second.number, "poll-2")
    access_point.inbox["doc_5"] = response_for("UQ", first.number, "poll-1")
    assert poll_access_point_inbox() == 2
    assert sorted(access_point.signed_reads) == ["doc_1", "doc_2", "doc_3", "doc_4", "doc_5"]
    assert db.session.scalar(select(func.count()).select_from(Dispute)) == 2
    assert db.session.scalar(select(func.count()).select_from(EDocument).where(
        EDocument.doc_type == "invoice_response")) == 2


def test_the_inbox_poll_pages_until_nothing_is_new(app, access_point, monkeypatch):
    from app.einvoicing.jobs import poll_access_point_inbox
    from plugins.peppol_einvoice_be import EInvoiceBe

    for n in range(1, 6):
        access_point.inbox[f"doc_{n}"] = b"<a/>"
    original = EInvoiceBe.received_documents
    monkeypatch.setattr(EInvoiceBe, "received_documents",
                        lambda self, page=1, page_size=2: original(self, page=page, page_size=2))

    def inbox_calls() -> int:
        return sum(path.startswith("/api/inbox/") for _method, path in access_point.calls)

    assert poll_access_point_inbox() == 5  # three pages of two
    assert inbox_calls() == 3
    access_point.calls.clear()
    assert poll_access_point_inbox() == 0  # the first page holds nothing new: one call
    assert inbox_calls() == 1


def test_the_inbox_poll_leaves_a_document_for_later_when_the_kit_cannot_run(app, access_point):
    from app.einvoicing.jobs import poll_access_point_inbox

    invoice = overdue(dunning_business(), 30)
    access_point.inbox["doc_1"] = response_for("UQ", invoice.number, "kit-1")
    app.config["PEPPOL_VALIDATOR"] = "/nonexistent/validate"
    try:
        assert poll_access_point_inbox() == 0
        assert db.session.scalar(select(func.count()).select_from(EDocument)) == 0
    finally:
        app.config.pop("PEPPOL_VALIDATOR")
    assert poll_access_point_inbox() == 1
    assert db.session.scalar(select(Dispute.invoice_id)) == invoice.id
