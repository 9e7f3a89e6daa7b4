"""The SMTP plugin's own writer (email_bytes) says what the email package (build_email) says.

A mail client reads the same sender, recipient, subject, reply address, unsubscribe links and
text and HTML parts from either, for plain and accented text, long subjects, awkward company
names, and a subject that tries to start a header of its own.
"""
from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default as read_policy

import pytest

from app.extensions import db
from app.notifications.models import Message
from plugins.email_smtp.channel import build_email, email_bytes
from tests.helpers import make_customer, make_invoice

SENDER = "factures@example.be"
HEADERS = ("To", "Subject", "Message-ID", "Reply-To", "List-Unsubscribe", "Content-Language",
           "Auto-Submitted", "X-CreditDesk-Idempotency-Key", "Date")


def _message(**values) -> Message:
    fields = {"id": 4711, "idempotency_key": "dunning:reminder:42:1",
              "recipient": "anne@example.org", "subject": "Reminder", "body_text": "Hello",
              "body_html": None, "language": "en", "event": "dunning.reminder",
              "created_at": datetime(2026, 12, 7, 9, 30, tzinfo=UTC), "attachments": []}
    fields.update(values)
    return Message(**fields)


def _read(mail) -> email.message.EmailMessage:
    data = mail[0] if isinstance(mail, tuple) else mail.as_bytes()
    return email.message_from_bytes(data, policy=read_policy)


CASES = {
    "plain ASCII, no company name": (
        {}, {"email": "info@example.be", "unsubscribe_url": "https://x.example/p"}),
    "accents, long subject, HTML, optional message": (
        {"subject": "Votre paiement de 1 234,56 € pour la facture F-2026-000123 a bien été "
                    "reçu — merci beaucoup, l'équipe crédit vous remercie",
         "body_text": "Bonjour Élodie,\n\nNous avons reçu 1 234,56 €.\n" * 20,
         "body_html": "<p>Bonjour <b>Élodie</b>, nous avons reçu 1&nbsp;234,56&nbsp;€.</p>",
         "language": "fr", "event": "payment_received"},
        {"name": "Société d'Énergie Wallonne SA", "email": "info@example.be",
         "reply_address": "replies@example.be", "unsubscribe_url": "https://x.example/p"}),
    "Dutch, quotes in the company name": (
        {"subject": "Herinnering: factuur \"2026-17\" is vervallen", "language": "nl",
         "body_text": "Beste klant", "body_html": "<p>Beste klant</p>"},
        {"name": 'ACME "Best" NV', "email": "info@example.be",
         "unsubscribe_url": "https://x.example/p"}),
    "a subject with a line break": (
        {"subject": "Rappel\r\nBcc: everyone@example.net"},
        {"name": "Créditdesk", "unsubscribe_url": "https://x.example/p"}),
}


@pytest.mark.parametrize("values,company", CASES.values(), ids=list(CASES))
def test_the_fast_writer_reads_back_as_the_email_package_does(app, values, company):
    message = _message(**values)
    with app.test_request_context():
        fast, reference = email_bytes(message, SENDER, company), build_email(message, SENDER,
                                                                            company)
    assert isinstance(fast, tuple), "the usual mail goes through the fast writer"
    ours, theirs = _read(fast), _read(reference)
    for name in HEADERS:
        assert str(ours[name]) == str(theirs[name]), name
    assert ours["From"].addresses == theirs["From"].addresses
    assert fast[1] == theirs["Message-ID"]
    assert ours["Bcc"] is None
    assert sorted(ours.keys()) == sorted(theirs.keys())  # the same headers, no more
    for kind in ("plain", "html"):
        mine, reference_part = (m.get_body(preferencelist=(kind,)) for m in (ours, theirs))
        assert (mine is None) == (reference_part is None)
        if mine is not None:
            assert mine.get_content() == reference_part.get_content()
    for line in fast[0].split(b"\r\n"):
        assert len(line) <= 998, "no line longer than SMTP allows"


def test_what_the_fast_writer_cannot_write_goes_through_the_email_package(app):
    with app.test_request_context():
        invoice = make_invoice(make_customer())
        db.session.commit()
        foreign = email_bytes(_message(recipient="zoë@exämple.be"), SENDER, {})
        with_pdf = email_bytes(_message(attachments=[{"invoice_id": invoice.id}]), SENDER, {})
    assert not isinstance(foreign, tuple)
    assert "zoë@exämple.be" in str(_read(foreign)["To"])
    assert not isinstance(with_pdf, tuple)
    assert [part.get_filename() for part in _read(with_pdf).iter_attachments()] == [
        f"{invoice.number}.pdf"]
