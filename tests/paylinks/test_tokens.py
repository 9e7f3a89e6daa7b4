"""Pay link tokens: scope, expiry, revocation, tampering, settled invoices."""
from __future__ import annotations

from datetime import timedelta

from app.core.models import utcnow
from app.extensions import db
from app.paylinks import services
from app.paylinks.models import PayLink
from tests.helpers import make_customer, make_invoice


def test_url_is_absolute_and_token_only_stored_as_hash(app):
    customer = make_customer()
    invoice = make_invoice(customer, due_in_days=-10)
    url = services.pay_link_url(customer.id, [invoice.id])
    db.session.commit()
    assert url.startswith("http://") and "/portal/p/" in url
    token = url.rsplit("/", 1)[1]
    link = db.session.scalars(db.select(PayLink)).one()
    assert token.split(".")[0] not in (link.token_hash or "")
    assert link.invoice_ids == [invoice.id] and link.customer_id == customer.id
    assert services.resolve(token).link.id == link.id


def test_other_customers_invoices_are_dropped(app):
    mine, other = make_customer(), make_customer()
    own = make_invoice(mine, due_in_days=-3)
    foreign = make_invoice(other, due_in_days=-3)
    link, _token = services.create_pay_link(mine.id, [own.id, foreign.id])
    assert link.invoice_ids == [own.id]


def test_tampered_and_made_up_tokens_are_invalid(app):
    customer = make_customer()
    invoice = make_invoice(customer, due_in_days=-3)
    _link, token = services.create_pay_link(customer.id, [invoice.id])
    db.session.commit()
    raw, _dot, signature = token.partition(".")
    for bad in (raw, raw + "." + signature[:-1] + ("A" if signature[-1] != "A" else "B"),
                "x" + token[1:], token + "x", "", "." * 5, "é" * 10, "a" * 500):
        assert services.resolve(bad).state == "invalid", bad


def test_expired_and_revoked(app):
    customer = make_customer()
    invoice = make_invoice(customer, due_in_days=-3)
    link, token = services.create_pay_link(customer.id, [invoice.id])
    db.session.commit()
    link.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert services.resolve(token).state == "expired"
    link.expires_at = utcnow() + timedelta(days=1)
    assert services.revoke(link.id, customer.id, user="alice")
    db.session.commit()
    assert services.resolve(token).state == "revoked"
    assert not services.revoke(link.id, customer.id)  # already


def test_revoke_refuses_another_customers_link(app):
    customer, other = make_customer(), make_customer()
    link, token = services.create_pay_link(customer.id, [make_invoice(customer).id])
    db.session.commit()
    assert not services.revoke(link.id, other.id)
    assert services.resolve(token).ok


def test_validity_follows_the_setting(app):
    from app.core.settings import set_setting

    set_setting("paylinks.valid_days", 7)
    db.session.commit()
    customer = make_customer()
    link, _token = services.create_pay_link(customer.id, [make_invoice(customer).id])
    assert timedelta(days=6, hours=23) < link.expires_at - utcnow() <= timedelta(days=7)
