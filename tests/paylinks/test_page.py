"""The page a pay link opens, over HTTP: only its invoices, no sign-in, nothing else."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.core.models import utcnow
from app.extensions import db
from app.paylinks import services
from app.paylinks.models import PayLink, PayLinkEvent
from app.requests.models import Dispute
from tests.helpers import make_customer, make_invoice
from tests.paylinks.conftest import token_path


def _reminded(language="fr", **fields):
    customer = make_customer(language=language, **fields)
    first = make_invoice(customer, total="120.00", due_in_days=-20)
    second = make_invoice(customer, total="30.50", due_in_days=-10)
    other = make_invoice(customer, total="999.00", due_in_days=-40)  # not in this message
    url = services.pay_link_url(customer.id, [first.id, second.id])
    db.session.commit()
    return customer, (first, second, other), token_path(url)


def test_opening_shows_only_the_messages_invoices(fresh_client):
    _customer, (first, second, other), path = _reminded(language="en")
    client = fresh_client()
    opened = client.get(path)
    assert opened.status_code == 303 and opened.headers["Location"] == "/portal/pay-link"
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    assert opened.headers["Cache-Control"] == "no-store"
    page = client.get("/portal/pay-link")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "€150.50" in html and first.number in html and second.number in html
    assert other.number not in html and "999" not in html
    assert "BE68 5390 0754 7034" in html and "data:image/svg+xml;base64," in html
    assert "I need more time" in html and "Pay in instalments" in html
    assert "See my whole account" in html
    # Signed in as nobody: the rest of the portal still asks for sign-in.
    for other_page in ("/portal/", "/portal/invoices", f"/portal/invoices/{other.id}",
                       "/portal/profile", "/portal/pay"):
        assert client.get(other_page).status_code == 302, other_page
    assert client.get("/portal/pay-link/account").headers["Location"].startswith(
        "/portal/login")
    events = db.session.scalars(select(PayLinkEvent.kind)).all()
    assert events == ["opened"]


def test_disputed_part_is_left_out(fresh_client):
    customer, (first, _second, _other), path = _reminded(language="en")
    db.session.add(Dispute(customer_id=customer.id, invoice_id=first.id, amount=20,
                           reason="wrong_amount", status="open"))
    db.session.commit()
    client = fresh_client()
    client.get(path)
    html = client.get("/portal/pay-link").get_data(as_text=True)
    assert "€130.50" in html and "disputed amount of €20.00 left out" in html


def test_paid_since_says_nothing_left_to_pay(fresh_client):
    _customer, (first, second, _other), path = _reminded(language="en")
    for invoice in (first, second):
        invoice.open_amount = 0
        invoice.status = "paid"
    db.session.commit()
    client = fresh_client()
    client.get(path)
    html = client.get("/portal/pay-link").get_data(as_text=True)
    assert "Nothing left to pay" in html and "I need more time" not in html
    assert "data:image/svg+xml" not in html


def test_expired_revoked_and_tampered_links_offer_sign_in(fresh_client):
    customer, invoices, path = _reminded(language="nl")
    link = db.session.scalars(select(PayLink)).one()
    tampered = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    client = fresh_client()
    for bad in (tampered, "/portal/p/nothing-here"):
        answer = client.get(bad)
        html = answer.get_data(as_text=True)
        assert answer.status_code == 410 and answer.headers["Referrer-Policy"] == "no-referrer"
        assert customer.name not in html and invoices[0].number not in html
        assert 'href="/portal/login"' in html
    link.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert client.get(path).status_code == 410
    link.expires_at = utcnow() + timedelta(days=1)
    services.revoke(link.id, customer.id, user="staff")
    db.session.commit()
    assert client.get(path).status_code == 410


def test_revoking_stops_an_open_page(fresh_client):
    customer, _invoices, path = _reminded()
    client = fresh_client()
    client.get(path)
    assert client.get("/portal/pay-link").status_code == 200
    services.revoke(db.session.scalars(select(PayLink.id)).one(), customer.id)
    db.session.commit()
    assert client.get("/portal/pay-link").status_code == 410


def test_page_in_customers_language(fresh_client):
    _customer, _invoices, path = _reminded(language="fr")
    client = fresh_client()
    client.get(path)
    html = client.get("/portal/pay-link").get_data(as_text=True)
    assert 'lang="fr"' in html


def test_without_a_link_the_pages_show_nothing(fresh_client):
    client = fresh_client()
    for page in ("/portal/pay-link", "/portal/pay-link/more-time", "/portal/pay-link/plan",
                 "/portal/pay-link/paid/1", "/portal/pay-link/requests/1"):
        assert client.get(page).status_code in (404, 410), page
    assert client.post("/portal/pay-link/online").status_code in (400, 410)


def test_opened_twice_in_one_browser_is_one_timeline_line(fresh_client):
    _customer, _invoices, path = _reminded()
    client = fresh_client()
    client.get(path)
    client.get(path)
    assert db.session.scalar(select(func.count(PayLinkEvent.id))) == 1
