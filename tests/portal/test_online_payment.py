"""Pay online from the portal, through the demo provider: the whole journey over HTTP."""
from __future__ import annotations

import re

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from app.core.plugins import get_plugin, plugin_config
from app.extensions import db
from app.invoices.models import Invoice
from app.notifications.models import Message
from app.payments.models import Payment
from app.payments.online.models import OnlineCheckout
from app.requests.models import Dispute
from tests.helpers import csrf_for, make_customer, make_invoice, money
from tests.plugins.test_psp_mollie import fake_mollie, mollie  # noqa: F401  (fixtures)
from tests.portal.conftest import csrf_from


@pytest.fixture(autouse=True)
def _notification_templates(app, _fresh_portal_state):
    from app.notifications.defaults import install_defaults

    install_defaults()


def _payments() -> int:
    return db.session.scalar(select(func.count(Payment.id)))


def _thank_yous(customer) -> int:
    return db.session.scalar(select(func.count(Message.id)).where(
        Message.customer_id == customer.id, Message.event == "payment_received"))


def _pay_online(client, page: str, action: str):
    html = client.get(page).get_data(as_text=True)
    assert f'action="{action}"' in html, "no Pay online button"
    return client.post(action, data={"csrf_token": csrf_from(html)})


def test_pay_one_invoice_online_with_the_demo_provider(portal_client):
    customer = make_customer(language="en", email="payer@example.test")
    invoice = make_invoice(customer, total="80.00", due_in_days=-10)
    client = portal_client(customer)
    started = _pay_online(client, f"/portal/invoices/{invoice.id}/pay",
                          f"/portal/invoices/{invoice.id}/pay/online")
    assert started.status_code == 303
    demo = started.headers["Location"]
    assert re.fullmatch(r"/portal/demo-checkout/\d+", demo)
    page = client.get(demo)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "€80.00" in html and "No money moves" in html
    # Without the CSRF token the demo provider's page refuses and nothing is booked.
    assert client.post(demo, data={"pay": "y"}).status_code == 400
    assert _payments() == 0
    done = client.post(demo, data={"pay": "y", "csrf_token": csrf_from(html)})
    assert done.status_code == 303
    back = client.get(done.headers["Location"])
    text = back.get_data(as_text=True)
    assert back.status_code == 200 and "We received your payment of €80.00" in text
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status == "paid"
    assert _payments() == 1 and _thank_yous(customer) == 1
    payment = db.session.scalar(select(Payment))
    assert payment.method == "online" and payment.customer_id == customer.id
    # Reloading the return page and replaying the webhook book nothing more.
    client.get(done.headers["Location"])
    checkout = db.session.scalar(select(OnlineCheckout))
    assert client.post("/portal/payments/webhook/psp_demo",
                       data={"id": checkout.provider_id}).status_code == 200
    assert _payments() == 1 and _thank_yous(customer) == 1
    # The invoice is paid: there is nothing more to pay online.
    again = client.post(f"/portal/invoices/{invoice.id}/pay/online",
                        data={"csrf_token": csrf_from(text)})
    assert again.status_code == 409 and "nothing to pay online" in again.get_data(as_text=True)


def test_cancel_on_the_demo_page_books_nothing(portal_client):
    customer = make_customer(language="fr", email="canceller@example.test")
    invoice = make_invoice(customer, total="15.00", due_in_days=-3)
    client = portal_client(customer)
    started = _pay_online(client, "/portal/pay", "/portal/pay/online")
    demo = started.headers["Location"]
    html = client.get(demo).get_data(as_text=True)
    done = client.post(demo, data={"cancel": "y", "csrf_token": csrf_from(html)})
    result = client.get(done.headers["Location"])
    assert result.status_code == 200
    assert db.session.scalar(select(OnlineCheckout.status)) == "cancelled"
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).open_amount == money("15.00")
    assert _payments() == 0 and _thank_yous(customer) == 0
    # The demo page of a closed checkout cannot pay it afterwards.
    client.post(demo, data={"pay": "y", "csrf_token": csrf_from(html)})
    assert _payments() == 0


def test_pay_all_overdue_online_leaves_disputed_amounts_out(portal_client):
    customer = make_customer(language="en", email="overdue@example.test")
    disputed = make_invoice(customer, total="100.00", due_in_days=-30)
    plain = make_invoice(customer, total="20.00", due_in_days=-5)
    make_invoice(customer, total="500.00", due_in_days=20)  # not overdue: not included
    db.session.add(Dispute(customer_id=customer.id, invoice_id=disputed.id,
                           amount=money("40.00"), status="open"))
    db.session.commit()
    client = portal_client(customer)
    started = _pay_online(client, "/portal/pay", "/portal/pay/online")
    checkout = db.session.scalar(select(OnlineCheckout))
    assert checkout.amount == money("80.00")  # 60 + 20, the disputed 40 left out
    assert sorted(checkout.invoice_ids) == sorted([disputed.id, plain.id])
    demo = started.headers["Location"]
    html = client.get(demo).get_data(as_text=True)
    client.post(demo, data={"pay": "y", "csrf_token": csrf_from(html)})
    db.session.expire_all()
    assert db.session.get(Invoice, disputed.id).open_amount == money("40.00")
    assert db.session.get(Invoice, plain.id).status == "paid"


def test_no_button_when_no_provider_is_enabled(portal_client):
    plugin_config(get_plugin("psp_demo")).enabled = False
    db.session.commit()
    customer = make_customer(language="en", email="nobutton@example.test")
    invoice = make_invoice(customer, total="10.00", due_in_days=-1)
    client = portal_client(customer)
    html = client.get(f"/portal/invoices/{invoice.id}/pay").get_data(as_text=True)
    assert "/pay/online" not in html and "Pay online" not in html
    # Posting anyway: a clear message, nothing created at any provider.
    response = client.post(f"/portal/invoices/{invoice.id}/pay/online",
                           data={"csrf_token": csrf_from(html)})
    assert response.status_code == 503 and "pay by bank transfer" in response.get_data(
        as_text=True)
    assert db.session.scalar(select(func.count(OnlineCheckout.id))) == 0


def test_csrf_is_required_and_pages_need_a_login(portal_client, client):
    customer = make_customer(language="en", email="csrf@example.test")
    invoice = make_invoice(customer, total="10.00", due_in_days=-1)
    assert client.post(f"/portal/invoices/{invoice.id}/pay/online").status_code == 400
    assert client.post(f"/portal/invoices/{invoice.id}/pay/online",
                       data={"csrf_token": csrf_for(client)}).status_code == 302
    assert client.get("/portal/payments/1/return").status_code == 302
    signed_in = portal_client(customer)
    assert signed_in.post(f"/portal/invoices/{invoice.id}/pay/online").status_code == 400
    assert signed_in.post("/portal/pay/online").status_code == 400
    assert db.session.scalar(select(func.count(OnlineCheckout.id))) == 0


def test_another_customers_checkout_is_404(portal_client):
    other = make_customer(email="other-online@example.test")
    other_invoice = make_invoice(other, total="33.00", due_in_days=-1)
    checkout = OnlineCheckout(customer_id=other.id, provider="psp_demo",
                              provider_id="demo_0123456789abcdef", amount=money("33.00"),
                              invoices=[{"id": other_invoice.id, "amount": "33.00"}])
    db.session.add(checkout)
    db.session.commit()
    client = portal_client(make_customer(email="me-online@example.test", language="en"))
    for url in (f"/portal/payments/{checkout.id}/return", f"/portal/demo-checkout/{checkout.id}"):
        response = client.get(url)
        assert response.status_code == 404 and other_invoice.number not in response.get_data(
            as_text=True)


def test_pay_with_mollie_goes_to_its_page_and_the_return_page_confirms(portal_client,
                                                                       mollie):  # noqa: F811
    customer = make_customer(language="nl", email="mollie@example.test")
    invoice = make_invoice(customer, total="64.10", due_in_days=-4)
    client = portal_client(customer)
    started = _pay_online(client, f"/portal/invoices/{invoice.id}/pay",
                          f"/portal/invoices/{invoice.id}/pay/online")
    assert started.status_code == 303
    go = client.get(started.headers["Location"])
    checkout = db.session.scalar(select(OnlineCheckout))
    assert go.status_code == 200
    assert go.headers["Refresh"] == f"0; url={checkout.checkout_url}"
    assert checkout.checkout_url.startswith("https://www.mollie.com/checkout/")
    sent = mollie.received[-1]
    assert sent["amount"] == {"currency": "EUR", "value": "64.10"} and sent["locale"] == "nl_BE"
    assert sent["redirectUrl"].endswith(f"/portal/payments/{checkout.id}/return")
    # Back from Mollie before paying: pending, honestly.
    pending = client.get(f"/portal/payments/{checkout.id}/return")
    assert pending.status_code == 200 and _payments() == 0
    mollie.pay(checkout.provider_id)
    paid = client.get(f"/portal/payments/{checkout.id}/return").get_data(as_text=True)
    assert "64,10" in paid and _payments() == 1 and _thank_yous(customer) == 1
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status == "paid"


def test_mollie_down_gives_a_clear_message_and_books_nothing(portal_client, mollie):  # noqa: F811
    customer = make_customer(language="fr", email="down@example.test")
    invoice = make_invoice(customer, total="10.00", due_in_days=-4)
    client = portal_client(customer)
    mollie.fail_status = 503
    response = _pay_online(client, f"/portal/invoices/{invoice.id}/pay",
                           f"/portal/invoices/{invoice.id}/pay/online")
    text = response.get_data(as_text=True)
    assert response.status_code == 503
    # The customer reads the provider-down message in French (the wording of the catalogue).
    from markupsafe import escape

    from app.payments.online.provider import ProviderError, customer_message
    with force_locale("fr"):
        expected = customer_message(ProviderError("unavailable"))
    assert "Nothing was charged" not in expected
    assert str(escape(expected)) in text
    assert _payments() == 0
    assert db.session.scalar(select(OnlineCheckout.status)) == "failed"
