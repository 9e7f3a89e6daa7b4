"""Every message about something in the portal carries a link that opens that page (after the
customer verifies their address with a fresh sign-in link), in every language and on SMS too."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core.models import utcnow
from app.core.portal_access import PortalAccess
from app.core.time import business_today
from app.customers.models import BankAccount
from app.extensions import db
from app.notifications import services
from app.notifications.models import Message
from app.payments.models import Allocation, Payment
from app.requests.models import CustomerRequest, Deferral, Installment, PaymentPlan
from tests.helpers import make_customer, make_invoice
from tests.notifications.deeplinks import deep_link_target, open_after_verification


def _customer(language: str):
    return make_customer(language=language, phone="+32470000001", sms_reminders=True)


def _paid(customer):
    invoice = make_invoice(customer, total="60.00")
    payment = Payment(customer=customer, received_on=date(2025, 3, 4), amount=Decimal("60.00"))
    db.session.add_all([payment, Allocation(payment=payment, invoice=invoice,
                                            amount=Decimal("60.00"))])
    db.session.commit()
    return services.notify_payment_received(payment), ("invoice", {"invoice_id": invoice.id})


def _settled(customer):
    return services.notify_account_settled(customer), ("statement", {})


def _request(customer, status="received"):
    request = CustomerRequest(customer=customer, kind="deferral", status=status)
    db.session.add(request)
    db.session.commit()
    return request


def _request_received(customer):
    request = _request(customer)
    return services.notify_request_received(request), ("request_detail",
                                                       {"request_id": request.id})


def _request_decided(customer):
    request = _request(customer, "approved")
    return services.notify_request_decided(request), ("request_detail",
                                                      {"request_id": request.id})


def _deferral(customer):
    invoice = make_invoice(customer, total="300.00", due_in_days=-10)
    deferral = Deferral(customer=customer, invoice=invoice, original_due_date=invoice.due_date,
                        new_due_date=business_today() + timedelta(days=20))
    db.session.add(deferral)
    db.session.commit()
    return deferral, ("pay_invoice", {"invoice_id": invoice.id})


def _deferral_approved(customer):
    deferral, page = _deferral(customer)
    return services.notify_deferral_approved(deferral), page


def _promise_broken(customer):
    deferral, page = _deferral(customer)
    return services.notify_promise_broken(deferral), page


def _plan(customer):
    today = business_today()
    plan = PaymentPlan(customer=customer, status="active", total_amount=Decimal("300.00"),
                       installment_count=3, day_of_month=5, start_date=today)
    for n in range(3):
        plan.installments.append(Installment(sequence=n + 1, amount=Decimal("100.00"),
                                             due_date=today + timedelta(days=3 + 30 * n),
                                             structured_reference=f"00000000{n + 1}97"[-12:]))
    db.session.add(plan)
    db.session.commit()
    return plan


def _plan_approved(customer):
    plan = _plan(customer)
    return services.notify_plan_approved(plan), ("plan", {"plan_id": plan.id})


def _instalment_due(customer):
    plan = _plan(customer)
    return services.notify_instalment_due(plan.installments[0]), ("plan", {"plan_id": plan.id})


def _plan_broken(customer):
    plan = _plan(customer)
    return services.notify_plan_broken(plan), ("plan", {"plan_id": plan.id})


def _refund_account(customer):
    account = BankAccount(customer=customer, iban="BE68539007547034", purpose="refund",
                          status="pending", active_from=utcnow() + timedelta(days=3))
    db.session.add(account)
    db.session.commit()
    return services.notify_refund_account_changed(account), ("bank_account", {})


def _payment_returned(customer):
    invoice = make_invoice(customer, total="60.00", due_in_days=-5)
    payment = Payment(customer=customer, received_on=date(2025, 3, 4), amount=Decimal("60.00"),
                      method="direct_debit", status="returned", return_reason="AM04",
                      returned_at=utcnow())
    db.session.add_all([payment, Allocation(payment=payment, invoice=invoice,
                                            amount=Decimal("60.00"), reversed_at=utcnow())])
    db.session.commit()
    return services.notify_payment_returned(payment), ("pay_invoice", {"invoice_id": invoice.id})


EVENTS = {"payment_received": _paid, "account_settled": _settled,
          "request_received": _request_received, "request_decided": _request_decided,
          "deferral_approved": _deferral_approved, "promise_broken": _promise_broken,
          "plan_approved": _plan_approved, "instalment_due": _instalment_due,
          "plan_broken": _plan_broken, "refund_account_changed": _refund_account,
          "payment_returned": _payment_returned}
# Events about money owed or a decision also go by SMS to customers who opted in.
BY_SMS = {"request_decided", "deferral_approved", "promise_broken", "plan_approved",
          "instalment_due", "plan_broken", "refund_account_changed", "payment_returned"}


# Messages that ask for money carry a pay link instead, which opens their invoices without
# signing in (tests/paylinks/test_messages.py).
PAY_LINK_EVENTS = {"promise_broken", "instalment_due", "plan_broken"}


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
@pytest.mark.parametrize("event", sorted(set(EVENTS) - PAY_LINK_EVENTS))
def test_each_message_links_to_its_own_page(app, defaults, event, language):
    customer = _customer(language)
    messages, (endpoint, values) = EVENTS[event](customer)
    db.session.commit()
    assert {m.language for m in messages} == {language}
    assert {m.channel for m in messages} == ({"email", "sms"} if event in BY_SMS else {"email"})
    adapter = app.url_map.bind("localhost")
    for message in messages:
        access = deep_link_target(message.body_text)  # on e-mail and on SMS alike
        assert access.customer_id == customer.id
        assert adapter.match(access.target) == ("portal." + endpoint, values), message.channel
        if message.channel == "email":
            assert "/portal/go/" in message.body_html
        else:
            assert len(message.body_text) <= 320, message.body_text  # two SMS parts at most


def test_the_link_opens_the_page_after_verification(app, defaults):
    customer = make_customer(language="nl", email="deep.plan@example.test")
    [message] = _plan_approved(customer)[0]
    db.session.commit()
    plan = db.session.scalar(select(PaymentPlan).where(PaymentPlan.customer_id == customer.id))
    assert open_after_verification(app, message.body_text, "deep.plan@example.test") == \
        f"/portal/plans/{plan.id}"


def test_a_repeated_event_makes_no_second_link(defaults):
    customer = _customer("fr")
    messages, _page = _deferral_approved(customer)
    db.session.commit()
    links = db.session.scalar(select(func.count(PortalAccess.id)))
    texts = {m.channel: m.body_text for m in messages}
    deferral = db.session.scalar(select(Deferral))
    again = services.notify_deferral_approved(deferral)
    db.session.commit()
    assert {m.channel: m.body_text for m in again} == texts  # the same messages, sent once
    assert db.session.scalar(select(func.count(Message.id))) == len(texts)
    assert db.session.scalar(select(func.count(PortalAccess.id))) == links
