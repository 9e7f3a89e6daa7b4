"""Retention fixtures: a customer with personal data everywhere, rules installed."""
from __future__ import annotations

import secrets
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from flask import current_app

from app.core.models import utcnow
from app.core.portal_access import PortalAccess
from app.customers.models import Address, BankAccount, Contact
from app.extensions import db
from app.notifications.models import Message
from app.payments.models import Payment
from app.requests.models import Attachment, CustomerRequest, Dispute
from app.retention.rules import install_defaults
from tests.helpers import make_customer, make_invoice

LONG_AGO = date.today() - timedelta(days=365 * 15)


@pytest.fixture
def rules(app):
    install_defaults()


@pytest.fixture(autouse=True)
def _journal(app, tmp_path):
    """Each test has its own tombstone journal."""
    app.config["RETENTION_JOURNAL"] = str(tmp_path / "journal.jsonl")
    yield
    app.config.pop("RETENTION_JOURNAL", None)


def attachment_file(name: str = "proof") -> tuple[str, Path]:
    folder = Path(current_app.config["UPLOAD_DIR"]) / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    relative = f"attachments/{name}-{secrets.token_hex(6)}.pdf"
    full = Path(current_app.config["UPLOAD_DIR"]) / relative
    full.write_bytes(b"%PDF-1.4 personal\n%%EOF")
    return relative, full


def rich_customer(name: str = "Marie Dupont", ended_on: date | None = LONG_AGO,
                  issued: date | None = None, paid: bool = True, language: str = "fr",
                  age_days: int = 5000, **fields):
    """A customer with contacts, address, bank account, a closed request with an attachment,
    a closed dispute, a sent message, a portal session, an invoice and a payment."""
    issued = issued or (LONG_AGO - timedelta(days=30))
    slug = name.lower().replace(" ", ".")
    customer = make_customer(name=name, email=f"{slug}@example.test", phone="+32470123456",
                             language=language, **fields)
    customer.relationship_ended_on = ended_on
    db.session.add(Contact(customer=customer, name=f"{name} (contact)",
                           email=f"contact.{slug}@example.test", phone="+32470999999"))
    db.session.add(Address(customer=customer, line1="Rue de la Station 12", line2="Boîte 2",
                           postal_code="1000", city="Bruxelles"))
    db.session.add(BankAccount(customer=customer, iban="BE68539007547034", holder=name,
                               status="retired", retired_at=utcnow() - timedelta(days=age_days)))
    invoice = make_invoice(customer, total="121.00", issue_date=issued,
                           due_date=(issued + timedelta(days=30)).isoformat())
    if paid:
        invoice.status, invoice.open_amount, invoice.paid_on = "paid", Decimal("0.00"), issued
        customer.balance = Decimal("0.00")
    invoice.dunning_block_reason = f"{name} called"
    db.session.add(Payment(customer=customer, received_on=issued, amount=Decimal("121.00"),
                           counterparty_name=name, counterparty_iban="BE68539007547034",
                           communication=f"paid by {name}", status="allocated"))
    request = CustomerRequest(customer=customer, kind="question", status="closed",
                              subject="Ma question", message=f"Je suis {name}",
                              decided_at=utcnow() - timedelta(days=age_days),
                              created_at=utcnow() - timedelta(days=age_days))
    relative, full = attachment_file()
    request.attachments.append(Attachment(file_name="proof.pdf", content_type="application/pdf",
                                          size=10, sha256="0" * 64, storage_path=relative))
    db.session.add(request)
    db.session.add(Dispute(customer=customer, invoice=invoice, amount=Decimal("10.00"),
                           text=f"{name} disputes", status="rejected",
                           closed_at=utcnow() - timedelta(days=age_days),
                           created_at=utcnow() - timedelta(days=age_days)))
    db.session.add(Message(customer=customer, channel="email", recipient=customer.email,
                           language="fr", event="payment_received", subject="Merci",
                           body_text=f"Bonjour {name}", status="sent",
                           idempotency_key=f"k-{secrets.token_hex(4)}",
                           created_at=utcnow() - timedelta(days=age_days)))
    db.session.add(PortalAccess(customer=customer, kind="session",
                                token_hash=secrets.token_hex(32), ip="192.0.2.1",
                                created_at=utcnow() - timedelta(days=age_days),
                                expires_at=utcnow() - timedelta(days=age_days - 1)))
    db.session.commit()
    customer.attachment_path = full
    return customer
