"""Delivery of e-invoices: the e-invoice.be access point plugin (against a local fake of its
API) and the export folder, through the notification outbox."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.plugins import discover, get_plugin, plugin_config
from app.core.settings import set_setting
from app.einvoicing.jobs import issue_credit_note_documents, refresh_access_point_statuses
from app.einvoicing.models import CustomerPeppol, EDocument
from app.einvoicing.outgoing import credit_note_xml
from app.einvoicing.services import queue_delivery, send
from app.extensions import db
from app.notifications.jobs import deliver_messages
from app.notifications.models import Message
from tests.einvoicing.conftest import approved_credit_note, business
from tests.einvoicing.fake_einvoice_be import FakeEInvoiceBe

KEY_VARIABLE = "CREDITDESK_PLUGIN_PEPPOL_EINVOICE_BE_API_KEY"


@pytest.fixture
def access_point(app, monkeypatch):
    fake = FakeEInvoiceBe(api_key="k-123").start()
    discover(refresh=True)
    row = plugin_config(get_plugin("peppol_einvoice_be"))
    row.enabled, row.settings = True, {"base_url": fake.url, "timeout": 5}
    db.session.commit()
    monkeypatch.setenv(KEY_VARIABLE, "k-123")
    yield fake
    fake.stop()


def _ready_document(app, country="BE", **customer):
    """A document that passed validation (built here; test_credit_notes_out runs the kit)."""
    note = approved_credit_note(app, business(country, **customer), "121.00")
    document = EDocument(direction="out", doc_type="credit_note", number=note.number, sender="",
                         customer_id=note.customer_id, credit_note_id=note.id, status="ready",
                         xml=credit_note_xml(note).decode(), failed_rules=[], findings=[])
    db.session.add(document)
    db.session.commit()
    return document


def _deliver(document) -> tuple[EDocument, Message]:
    message = queue_delivery(document)
    db.session.commit()
    deliver_messages([message.id])
    db.session.expire_all()
    return db.session.get(EDocument, document.id), db.session.get(Message, message.id)


def test_a_valid_credit_note_goes_to_the_access_point_as_multipart_ubl(app, access_point):
    document = _ready_document(app)
    access_point.registered.add("0208:0403170701")

    document, message = _deliver(document)

    assert message.status == "sent" and message.channel == "peppol"
    assert message.recipient == "0208:0403170701"
    [(doc_id, stored)] = access_point.documents.items()
    assert stored["type"] == "CREDIT_NOTE" and stored["invoice_number"] == document.number
    assert stored["xml"] == document.xml
    assert (document.status, document.ap_message_id, document.ap_status) == \
        ("sent", doc_id, "TRANSIT")
    assert message.provider_message_id == doc_id  # the delivery log shows the AP's id
    assert ("GET", "/api/lookup?peppol_id=0208%3A0403170701") in access_point.calls

    # Later the access point says it was delivered.
    access_point.documents[doc_id]["state"] = "SENT"
    assert refresh_access_point_statuses() == 1
    db.session.expire_all()
    assert (db.session.get(EDocument, document.id).status,
            db.session.get(EDocument, document.id).ap_status) == ("delivered", "SENT")


def test_a_customer_not_on_peppol_is_not_sent_and_staff_see_why(app, access_point):
    document = _ready_document(app)  # 0208:0403170701 is not registered at the fake

    document, message = _deliver(document)

    assert message.status == "failed" and "not registered on Peppol" in message.error
    assert document.status == "failed" and document.ap_status == "NOT_REGISTERED"
    assert access_point.documents == {}


def test_an_unavailable_access_point_is_retried_without_a_second_draft(app, access_point):
    document = _ready_document(app)
    access_point.registered.add("0208:0403170701")
    access_point.fail_next = [503]  # the lookup is answered 503

    document, message = _deliver(document)
    assert message.status == "queued" and "HTTP 503" in message.error
    assert document.status == "queued" and access_point.documents == {}

    # Next attempt: the draft is accepted, then the send call answers 503 ...
    access_point_fail_on_send(access_point)
    _retry_now(message)
    document = db.session.get(EDocument, document.id)
    assert len(access_point.documents) == 1 and document.ap_message_id == "doc_0001"
    assert db.session.get(Message, message.id).status == "queued"

    # ... and the attempt after that sends that same draft: never a second copy.
    _retry_now(message)
    assert len(access_point.documents) == 1
    assert access_point.documents["doc_0001"]["state"] == "TRANSIT"
    assert db.session.get(Message, message.id).status == "sent"
    assert db.session.get(EDocument, document.id).status == "sent"


def _retry_now(message) -> None:
    from datetime import timedelta

    from app.core.models import utcnow

    message = db.session.get(Message, message.id)
    message.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    deliver_messages([message.id])
    db.session.expire_all()


def access_point_fail_on_send(fake) -> None:
    """Make the next /send call answer 503 once."""
    handler = fake._server.RequestHandlerClass
    original = handler.do_POST

    def do_post(self):
        if self.path.endswith("/send"):
            handler.do_POST = original
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            return self._answer(503, {"detail": "Service unavailable"})
        return original(self)

    handler.do_POST = do_post


def test_a_wrong_api_key_fails_the_message_for_staff(app, access_point, monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, "wrong")
    document = _ready_document(app)
    document, message = _deliver(document)
    assert message.status == "failed" and "refused the API key (HTTP 401)" in message.error


def test_the_fake_enforces_multipart_like_the_documented_api(access_point):
    import requests

    raw = requests.post(access_point.url + "/api/documents/ubl", data=b"<CreditNote/>",
                        headers={"Authorization": "Bearer k-123",
                                 "Content-Type": "application/xml"}, timeout=5)
    assert raw.status_code == 422 and raw.json()["detail"][0]["loc"] == ["body", "file"]


def test_export_folder_receives_the_xml_for_the_companys_own_erp(app, tmp_path):
    discover(refresh=True)
    row = plugin_config(get_plugin("einvoice_export"))
    row.enabled, row.settings = True, {"folder": str(tmp_path / "peppol-out")}
    db.session.commit()
    set_setting("einvoicing.delivery_channel", "export")
    document = _ready_document(app)

    document, message = _deliver(document)

    written = tmp_path / "peppol-out" / f"{document.number}.xml"
    assert written.read_text(encoding="utf-8") == document.xml
    assert message.channel == "export" and message.status == "sent"
    assert document.status == "delivered" and document.ap_message_id == f"file:{written.name}"


def test_a_customer_preferring_peppol_gets_peppol_even_when_the_company_exports(
        app, access_point):
    set_setting("einvoicing.delivery_channel", "export")
    document = _ready_document(app, delivery_channel="peppol")
    access_point.registered.add("0208:0403170701")
    document, message = _deliver(document)
    assert message.channel == "peppol" and document.status == "sent"


def test_held_documents_cannot_be_sent(app):
    document = _ready_document(app)
    document.status = "held"
    db.session.commit()
    outcome = send([document])
    assert outcome["queued"] == 0
    assert "only a document that passed validation" in outcome["refused"][0]
    assert db.session.scalar(select(Message.id)) is None


def test_the_job_builds_validates_and_sends_new_credit_notes(app, access_point):
    customer = business("BE")
    db.session.add(CustomerPeppol(customer=customer, buyer_reference="REF-9"))
    db.session.commit()
    access_point.registered.add("0208:0403170701")
    note = approved_credit_note(app, customer, "242.00")

    assert issue_credit_note_documents() == 1
    assert issue_credit_note_documents() == 0  # nothing twice
    message = db.session.scalar(select(Message).where(Message.channel == "peppol"))
    deliver_messages([message.id])
    db.session.expire_all()
    document = db.session.scalar(select(EDocument).where(EDocument.credit_note_id == note.id))
    assert document.status == "sent" and document.failed_rules == []
    assert len(access_point.documents) == 1
