"""Paying a pay link online: the customer's country's methods, the demo provider's page
without signing in, "Thank you, paid", and only this link's checkouts."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.paylinks import services
from app.paylinks.models import PayLinkEvent
from app.payments.online.models import OnlineCheckout
from tests.helpers import make_customer, make_invoice
from tests.paylinks.conftest import csrf_from, token_path
from tests.plugins.test_psp_mollie import fake_mollie, mollie  # noqa: F401  (fixtures)


def _open(client, customer, totals=("80.00",)):
    invoices = [make_invoice(customer, total=t, due_in_days=-10) for t in totals]
    path = token_path(services.pay_link_url(customer.id, [i.id for i in invoices]))
    db.session.commit()
    assert client.get(path).status_code == 303
    return invoices


def _buttons(html: str) -> list[str]:
    return re.findall(r'name="method" value="(\w+)"', html)


def test_methods_follow_the_customers_country(fresh_client):
    for country, expected in (("BE", ["bancontact", "creditcard"]),
                              ("NL", ["ideal", "creditcard"]), ("FR", ["creditcard"])):
        client = fresh_client()
        _open(client, make_customer(language="en", country=country))
        html = client.get("/portal/pay-link").get_data(as_text=True)
        assert _buttons(html) == expected, country


def test_pay_with_the_demo_provider_then_thank_you(fresh_client):
    customer = make_customer(language="en", country="BE")
    client = fresh_client()
    invoices = _open(client, customer, totals=("80.00", "20.00"))
    page = client.get("/portal/pay-link").get_data(as_text=True)
    started = client.post("/portal/pay-link/online",
                          data={"csrf_token": csrf_from(page), "method": "bancontact"})
    assert started.status_code == 303
    demo = started.headers["Location"]
    assert re.fullmatch(r"/portal/demo-checkout/\d+", demo)
    checkout = db.session.scalars(select(OnlineCheckout)).one()
    assert checkout.amount == 100 and checkout.provider_data["method"] == "bancontact"
    demo_page = client.get(demo)  # no sign-in: the provider's page
    assert demo_page.status_code == 200
    back = client.post(demo, data={"pay": "y", "csrf_token": csrf_from(
        demo_page.get_data(as_text=True))})
    assert back.status_code == 303
    assert back.headers["Location"] == f"/portal/pay-link/paid/{checkout.id}"
    thanks = client.get(back.headers["Location"]).get_data(as_text=True)
    assert "Thank you, paid" in thanks and "Nothing is left to pay on these invoices." in thanks
    for invoice in invoices:
        db.session.refresh(invoice)
        assert invoice.status == "paid"
    kinds = db.session.scalars(select(PayLinkEvent.kind).order_by(PayLinkEvent.id)).all()
    assert kinds == ["opened", "checkout", "paid_online"]
    client.get(back.headers["Location"])  # again: still one "paid online" line
    assert len(db.session.scalars(select(PayLinkEvent.kind)).all()) == 3
    # The link now says there is nothing left to pay.
    assert "Nothing left to pay" in client.get("/portal/pay-link").get_data(as_text=True)


def test_part_paid_says_what_is_left(fresh_client):
    customer = make_customer(language="en", country="BE")
    client = fresh_client()
    _first, second = _open(client, customer, totals=("80.00", "20.00"))
    page = client.get("/portal/pay-link").get_data(as_text=True)
    started = client.post("/portal/pay-link/online",
                          data={"csrf_token": csrf_from(page), "method": "creditcard"})
    demo = started.headers["Location"]
    # A new invoice amount arrives on the second invoice meanwhile (e.g. interest booked).
    second.open_amount = second.open_amount + 15
    second.total_amount = second.total_amount + 15
    db.session.commit()
    demo_page = client.get(demo).get_data(as_text=True)
    back = client.post(demo, data={"pay": "y", "csrf_token": csrf_from(demo_page)})
    thanks = client.get(back.headers["Location"]).get_data(as_text=True)
    assert "Thank you, paid" in thanks and "€15.00" in thanks


def test_an_unknown_method_starts_nothing(fresh_client):
    customer = make_customer(language="en", country="NL")
    client = fresh_client()
    _open(client, customer)
    page = client.get("/portal/pay-link").get_data(as_text=True)
    for method in ("bancontact", "paypal", "", "x" * 500):
        answer = client.post("/portal/pay-link/online",
                             data={"csrf_token": csrf_from(page), "method": method})
        assert answer.status_code == 303 and answer.headers["Location"] == "/portal/pay-link"
    assert db.session.scalars(select(OnlineCheckout)).all() == []


def test_idor_over_every_id_the_pages_link_to(fresh_client, portal_client):
    """Checkouts and requests of another customer, or of the same customer but not made by
    this link, answer 404 from the pay link's pages."""
    from app.requests import deferrals

    victim = make_customer(language="en", country="BE", email="victim@example.test")
    victim_invoice = make_invoice(victim, total="70.00", due_in_days=-10)
    signed_in = portal_client(victim)
    html = signed_in.get(f"/portal/invoices/{victim_invoice.id}/pay").get_data(as_text=True)
    signed_in.post(f"/portal/invoices/{victim_invoice.id}/pay/online",
                   data={"csrf_token": csrf_from(html)})
    victim_checkout = db.session.scalars(select(OnlineCheckout)).one()
    from datetime import date, timedelta

    victim_request = deferrals.request_deferral(victim, [victim_invoice.id],
                                                date.today() + timedelta(days=5)).request
    db.session.commit()

    attacker = make_customer(language="en", country="BE")
    client = fresh_client()
    _open(client, attacker)
    for page in (f"/portal/pay-link/paid/{victim_checkout.id}",
                 f"/portal/pay-link/payments/{victim_checkout.id}/go",
                 f"/portal/demo-checkout/{victim_checkout.id}",
                 f"/portal/pay-link/requests/{victim_request.id}",
                 f"/portal/invoices/{victim_invoice.id}", f"/portal/invoices/{victim_invoice.id}/pay",
                 f"/portal/invoices/{victim_invoice.id}/pdf", "/portal/payments/1/return"):
        answer = client.get(page)
        body = answer.get_data(as_text=True)
        assert answer.status_code in (302, 404), page
        assert victim_invoice.number not in body and victim.name not in body, page
    # A checkout of the same customer made from the signed-in portal is not the link's either.
    own = make_invoice(attacker, total="10.00", due_in_days=-3)
    mine = portal_client(attacker.email)
    html = mine.get(f"/portal/invoices/{own.id}/pay").get_data(as_text=True)
    mine.post(f"/portal/invoices/{own.id}/pay/online", data={"csrf_token": csrf_from(html)})
    portal_checkout = db.session.scalars(select(OnlineCheckout).where(
        OnlineCheckout.customer_id == attacker.id)).one()
    assert client.get(f"/portal/pay-link/paid/{portal_checkout.id}").status_code == 404


def test_mollie_gets_the_chosen_method(fresh_client, mollie):  # noqa: F811
    customer = make_customer(language="nl", country="NL")
    client = fresh_client()
    _open(client, customer, totals=("42.00",))
    page = client.get("/portal/pay-link").get_data(as_text=True)
    assert _buttons(page) == ["ideal", "creditcard"]
    started = client.post("/portal/pay-link/online",
                          data={"csrf_token": csrf_from(page), "method": "ideal"})
    assert started.status_code == 303
    assert re.fullmatch(r"/portal/pay-link/payments/\d+/go", started.headers["Location"])
    assert mollie.received[-1]["method"] == "ideal"
    assert mollie.received[-1]["redirectUrl"].endswith(
        started.headers["Location"].replace("/payments/", "/paid/").removesuffix("/go"))
    go = client.get(started.headers["Location"])
    assert go.status_code == 200 and go.headers["Refresh"].startswith("0; url=https://")


def test_signed_in_without_the_link_the_id_pages_are_404(portal_client):
    """The portal's scoping rule (tests/portal/test_scoping.py): an id that is not reachable
    answers 404, signed in or not, when this browser did not open the link that made it."""
    customer = make_customer(language="en", email="signed@example.test")
    make_invoice(customer, total="10.00", due_in_days=-2)
    client = portal_client(customer)
    for path in ("/portal/pay-link/requests/1", "/portal/pay-link/payments/1/go",
                 "/portal/pay-link/paid/1"):
        assert client.get(path).status_code == 404, path
