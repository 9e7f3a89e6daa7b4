"""The event helpers other domains call: one message per event, right values, right channel."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from app.core.time import business_today
from app.customers.models import BankAccount, Contract, Mandate
from app.extensions import db
from app.notifications import services
from app.notifications.models import Message
from app.payments.models import Allocation, Payment
from app.requests.models import CustomerRequest, Deferral, Installment, PaymentPlan
from tests.helpers import make_customer, make_invoice
from tests.notifications.received import received_text


def _count() -> int:
    return db.session.scalar(select(func.count(Message.id)))


def _commit(messages):
    db.session.commit()
    for message in messages:
        db.session.refresh(message)
    return messages


def test_payment_received_thanks_once(defaults):
    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="60.00")
    payment = Payment(customer=customer, received_on=date(2025, 3, 4), amount=Decimal("60.00"))
    db.session.add(payment)
    db.session.add(Allocation(payment=payment, invoice=invoice, amount=Decimal("60.00")))
    db.session.commit()
    [message] = _commit(services.notify_payment_received(payment))
    assert message.subject == "Thank you for your payment of €60.00"
    assert f"invoice {invoice.number}: €60.00" in message.body_text
    services.notify_payment_received(payment)
    db.session.commit()
    assert _count() == 1


def test_requests_received_and_decided(defaults):
    customer = make_customer(language="nl", phone="+32470000001", sms_reminders=True)
    request = CustomerRequest(customer=customer, kind="deferral", status="received")
    db.session.add(request)
    db.session.commit()
    [received] = _commit(services.notify_request_received(request))
    assert f"aanvraag nr. {request.id}" in received.subject
    request.status = "approved"
    decided = _commit(services.notify_request_decided(request))
    assert {m.channel for m in decided} == {"email", "sms"}
    assert "goedgekeurd" in next(m for m in decided if m.channel == "email").subject
    request.status = "rejected"
    [_rejected, _sms] = _commit(services.notify_request_decided(request))
    assert _count() == 5  # received, approved (e-mail + SMS), rejected (e-mail + SMS)


def test_deferral_plan_and_instalments(defaults):
    customer = make_customer(language="fr")
    invoice = make_invoice(customer, total="300.00", due_in_days=-10)
    deferral = Deferral(customer=customer, invoice=invoice, original_due_date=invoice.due_date,
                        new_due_date=business_today() + timedelta(days=20))
    db.session.add(deferral)
    db.session.commit()
    [approved] = _commit(services.notify_deferral_approved(deferral))
    assert invoice.number in approved.subject and approved.attachments == [
        {"invoice_id": invoice.id}]
    [broken] = _commit(services.notify_promise_broken(deferral))
    assert "+++" in broken.body_text  # the invoice's structured communication

    today = business_today()
    plan = PaymentPlan(customer=customer, status="active", total_amount=Decimal("300.00"),
                       installment_count=3, day_of_month=5, start_date=today)
    for n in range(3):
        plan.installments.append(Installment(sequence=n + 1, amount=Decimal("100.00"),
                                             due_date=today + timedelta(days=3 + 30 * n),
                                             structured_reference=f"00000000{n + 1}97"[-12:]))
    db.session.add(plan)
    db.session.commit()
    [plan_message] = _commit(services.notify_plan_approved(plan))
    assert "3 mensualités" in plan_message.body_text
    assert services.send_instalment_notices() == 1  # only the one due within 5 days
    assert services.send_instalment_notices() == 1  # same message again: not a second row
    assert db.session.scalar(select(func.count(Message.id)).where(
        Message.event == "instalment_due")) == 1
    [plan_broken] = _commit(services.notify_plan_broken(plan))
    assert "300,00" in plan_broken.body_text


def test_mandate_email_change_and_magic_link(defaults):
    customer = make_customer(language="en", email="old@example.test")
    account = BankAccount(customer=customer, iban="BE68539007547034", status="active")
    mandate = Mandate(customer=customer, bank_account=account, reference="CD-42",
                      status="active")
    db.session.add_all([account, mandate])
    db.session.commit()
    [active] = _commit(services.notify_mandate_active(mandate))
    assert "BE** **** **** 7034" in active.body_text and "8 weeks" in active.body_text
    [change] = _commit(services.notify_email_change(customer, "new@example.test",
                                                    "http://x.test/confirm/1"))
    assert change.recipient == "new@example.test" and "http://x.test/confirm/1" in \
        received_text(change)
    assert "http://x.test/confirm/••••••" in change.body_text  # hidden from staff
    [link] = _commit(services.notify_magic_link(customer, None, "http://x.test/login/2"))
    assert link.recipient == "old@example.test"


def test_contract_renewal_notice_45_days_ahead_once(defaults):
    today = business_today()
    customer = make_customer(language="fr")
    due = Contract(customer=customer, reference="CTR-1", renewal_date=today + timedelta(days=45))
    later = Contract(customer=customer, reference="CTR-2",
                     renewal_date=today + timedelta(days=46))
    db.session.add_all([due, later])
    db.session.commit()
    assert services.send_contract_renewal_notices(today) == 1
    assert services.send_contract_renewal_notices(today) == 0
    [message] = db.session.scalars(select(Message)).all()
    assert "CTR-1" in message.subject and "préavis de deux mois" in message.body_text
    assert services.send_contract_renewal_notices(today + timedelta(days=1)) == 1  # CTR-2 now

    # Next year's renewal gets its own notice.
    db.session.refresh(due)
    due.renewal_date = due.renewal_date + timedelta(days=365)
    db.session.commit()
    assert services.send_contract_renewal_notices(today + timedelta(days=365)) == 1


def test_business_customers_do_not_get_the_consumer_clause(defaults):
    today = business_today()
    customer = make_customer(kind="company", language="nl")
    db.session.add(Contract(customer=customer, reference="B-1",
                            renewal_date=today + timedelta(days=30)))
    db.session.commit()
    services.send_contract_renewal_notices(today)
    message = db.session.scalar(select(Message))
    assert "stilzwijgend verlengd" in message.body_text
    assert "opzegtermijn" not in message.body_text
