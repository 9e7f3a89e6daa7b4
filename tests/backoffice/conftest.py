"""Fixtures for the back office tests: one record of every kind the screens show."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from itsdangerous import URLSafeTimedSerializer

from app.core.audit_models import AuditEvent
from app.core.models import PluginConfig, Setting, utcnow
from app.customers.models import Address, BankAccount, Contact, Contract, Mandate
from app.dunning.models import DunningAction, DunningLevel, DunningPolicy, DunningRun, ReferenceRate
from app.einvoicing.models import CustomerPeppol, EDocument
from app.extensions import db
from app.invoices.models import CreditNote, InvoiceLine
from app.notifications.models import Message, MessageTemplate, PrintBatch
from app.payments.incoming.models import BankStatement, StatementLine
from app.payments.services import clean_payment, post_payment
from app.requests.models import CustomerRequest, Deferral, Dispute, Installment, PaymentPlan
from app.retention.models import (
    LegalHold,
    RetentionRule,
    RetentionRun,
    RetentionTombstone,
)
from tests.helpers import make_customer, make_invoice


def session_csrf(app, client) -> str:
    """A valid CSRF token for this client's session, for POSTs to pages the user cannot open.

    (Flask-WTF signs the raw token kept in the session; a refused request must be refused for
    lack of rights, not for lack of a token.)
    """
    with client.session_transaction() as session:
        raw = session.setdefault("csrf_token", "0" * 40)
    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw)


@pytest.fixture
def sample_data():
    """One of everything, through the services where there are services."""
    today = date.today()
    customer = make_customer(name="Brasserie Dupont", kind="company", legal_status="insolvent")
    invoice = make_invoice(customer, total="1210.00", due_in_days=-40,
                           issue_date=today - timedelta(days=70))
    second = make_invoice(customer, total="300.00", due_in_days=10)
    payment, _ = post_payment(clean_payment({"customer_number": customer.number,
                                             "reference": invoice.number, "amount": "200.00",
                                             "received_on": today.isoformat()}))
    policy = DunningPolicy(name="Consumers BE", segment="consumer", country="BE")
    level = DunningLevel(policy=policy, sequence=1, name="Friendly", days_after_due=3,
                         template_key="reminder_friendly", channels="email,sms")
    run = DunningRun(run_date=today, status="done", counts={"reminded": 1})
    template = MessageTemplate(key="reminder_friendly", channel="email", language="fr",
                               subject="Rappel", body_text="Bonjour {{ name }}")
    message = Message(customer=customer, channel="email", recipient="a@example.test",
                      language="fr", event="reminder", subject="Rappel", body_text="Bonjour",
                      idempotency_key="k1", template=template, provider="local_mailbox")
    statement = BankStatement(format="camt.053", account_iban="BE68539007547034",
                              statement_ref="2024-01", file_sha256="a" * 64)
    request = CustomerRequest(customer=customer, kind="deferral", status="received",
                              subject="Plus de temps", payload={"days": 30},
                              sla_due_at=utcnow() - timedelta(hours=2))
    plan = PaymentPlan(customer=customer, status="active", total_amount=Decimal("300.00"),
                       installment_count=1, day_of_month=5, start_date=today)
    db.session.add_all([
        Contact(customer=customer, name="Marie Dupont", email="marie@example.test"),
        Address(customer=customer, line1="Rue Haute 1", postal_code="1000", city="Bruxelles"),
        BankAccount(customer=customer, iban="BE68539007547034", status="active"),
        Mandate(customer=customer, reference="MANDATE-1", status="active", signed_on=today),
        Contract(customer=customer, reference="CONTRACT-1", renewal_date=today),
        InvoiceLine(invoice=invoice, description="Beer", unit_price=Decimal("1000.00"),
                    amount=Decimal("1210.00")),
        CreditNote(customer=customer, invoice=second, number="CN-1", issue_date=today,
                   amount=Decimal("50.00"), open_amount=Decimal("50.00")),
        StatementLine(statement=statement, booking_date=today, amount=Decimal("200.00"),
                      structured_reference=invoice.structured_reference, dedup_key="d1"),
        policy, level, run, template, message, request, plan,
        PrintBatch(name="2025-01-01", status="open", folder="/tmp/letters"),
        Installment(plan=plan, sequence=1, due_date=today, amount=Decimal("300.00"),
                    structured_reference="000000009797"),
        Deferral(customer=customer, invoice=second, original_due_date=today,
                 new_due_date=today + timedelta(days=30)),
        Dispute(customer=customer, invoice=invoice, amount=Decimal("100.00"), reason="quality"),
        ReferenceRate(kind="ecb", valid_from=date(2024, 1, 1), rate=Decimal("4.5")),
        Setting(key="request_sla_hours", value=48, category="requests",
                description="Hours to answer a request"),
        PluginConfig(name="smtp", kind="channel", enabled=True, settings={"host": "localhost"}),
        CustomerPeppol(customer=customer, endpoint_scheme="0208", endpoint_id="0403170701"),
        EDocument(direction="out", doc_type="credit_note", number="CN-1", sender="",
                  customer=customer, status="held", failed_rules=["BR-CO-16"], findings=[]),
        RetentionRule(category="invoices", period_months=120, legal_basis="Accounting law"),
        LegalHold(customer=customer, reason="Court case"),
        RetentionRun(status="done", counts={"deleted": 0}, tombstones=[
            RetentionTombstone(subject=f"customer:{customer.id}", category="contacts",
                               action="delete")]),
        AuditEvent(actor_type="staff", actor="admin", action="update", entity="customer",
                   entity_id=str(customer.id), customer_id=customer.id),
    ])
    db.session.flush()
    db.session.add(DunningAction(run=run, run_date=today, customer=customer, level=level,
                                 invoice_ids=[invoice.id], amount_due=Decimal("1010.00")))
    db.session.commit()
    return {"customer": customer, "invoice": invoice, "second": second, "payment": payment,
            "policy": policy, "rule": RetentionRule}


@pytest.fixture
def as_role(staff_client):
    """as_role(role): a logged-in client, usable several times in one test.

    The test database fixture keeps one app context open for the whole test, so Flask's `g`
    (where Flask-Login caches the current user and Flask-WTF the CSRF token) would carry the previous client's login into
    the next one; it is forgotten before each new login.
    """
    from flask import g

    def make(role: str):
        for name in ("_login_user", "user", "csrf_token"):
            g.pop(name, None)
        return staff_client(role)

    return make
