"""Strict scoping: every portal route that takes an id, called with another customer's id, is a
404 that shows none of that customer's data."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.customers.models import Address, BankAccount, Contact, Mandate
from app.extensions import db
from app.invoices.models import CreditNote
from app.payments.services import clean_payment, post_payment
from app.requests.models import (
    Attachment,
    CustomerRequest,
    Deferral,
    Dispute,
    Installment,
    PaymentPlan,
)
from tests.helpers import make_customer, make_invoice
from tests.portal.conftest import csrf_from

# Routes whose argument is not a record id (tokens, language codes, files).
NOT_AN_ID = {"portal.confirm_login", "portal.deep_link", "portal.set_language", "portal.static",
             "portal.online_webhook"}
NOT_AN_ID |= {"portal.confirm_email_change"}  # a single-use token (my details)
NOT_AN_ID |= {"portal.my_data_download"}  # a file format (json, pdf) of the signed-in customer
NOT_AN_ID |= {"portal.pay_link_open"}  # a signed pay-link token (tests/paylinks: forged/other tokens)


def _other_customers_records():
    """Another customer with one record of every kind a portal URL may name, by argument."""
    other = make_customer(name="Secret Other Customer", email="other@example.test")
    invoice = make_invoice(other, total="777.77", due_in_days=-5,
                           description="Other customer's secret invoice")
    payment, _ = post_payment(clean_payment({"customer_number": other.number,
                                             "amount": "7.00",
                                             "received_on": date.today().isoformat()}))
    note = CreditNote(customer_id=other.id, number="CN-OTHER", issue_date=date.today(),
                      amount=Decimal(5), open_amount=Decimal(5))
    request = CustomerRequest(customer_id=other.id, kind="question", subject="Secret question")
    plan = PaymentPlan(customer_id=other.id, status="active", total_amount=Decimal(10),
                       installment_count=1, day_of_month=1, start_date=date.today())
    plan.installments.append(Installment(sequence=1, due_date=date.today(),
                                         amount=Decimal(10), structured_reference="000000010101"))
    db.session.add_all([note, request, plan])
    db.session.flush()
    attachment = Attachment(request_id=request.id, file_name="secret.pdf",
                            content_type="application/pdf", size=1, sha256="0" * 64,
                            storage_path="nowhere")
    deferral = Deferral(customer_id=other.id, invoice_id=invoice.id,
                        original_due_date=invoice.due_date,
                        new_due_date=invoice.due_date + timedelta(days=30))
    dispute = Dispute(customer_id=other.id, invoice_id=invoice.id, amount=Decimal(1))
    contact = Contact(customer_id=other.id, name="Secret Contact", email="sc@example.test")
    address = Address(customer_id=other.id, line1="Secret street 1", postal_code="1000",
                      city="Brussels")
    account = BankAccount(customer_id=other.id, iban="BE68539007547034")
    mandate = Mandate(customer_id=other.id, reference="MD-OTHER")
    db.session.add_all([attachment, deferral, dispute, contact, address, account, mandate])
    db.session.commit()
    from app.payments.online.models import OnlineCheckout

    checkout = OnlineCheckout(customer_id=other.id, provider="psp_demo",
                              provider_id="demo_00000000000000aa", amount=Decimal("777.77"),
                              invoices=[{"id": invoice.id, "amount": "777.77"}])
    db.session.add(checkout)
    db.session.commit()
    # The other customer's API key and webhook address ("Connected apps": both are item_id;
    # each is the first of its table here, so one id names both).
    from app.customer_api import keys, webhooks

    api_key = keys.create_key(other, "Their accounting", "read").key
    endpoint, _secret = webhooks.add_endpoint(other, "https://93.184.216.34/in",
                                              ["invoice.issued"])
    db.session.commit()
    assert api_key.id == endpoint.id
    ids = {
        "invoice_id": invoice.id, "payment_id": payment.id, "credit_note_id": note.id,
        "request_id": request.id, "plan_id": plan.id, "installment_id": plan.installments[0].id,
        "attachment_id": attachment.id, "deferral_id": deferral.id, "dispute_id": dispute.id,
        "contact_id": contact.id, "address_id": address.id, "bank_account_id": account.id,
        "mandate_id": mandate.id, "customer_id": other.id, "id": invoice.id,
        "checkout_id": checkout.id, "item_id": api_key.id, "action": "remove",
    }
    secrets = ("Secret Other Customer", invoice.number, "777,77", "777.77", "Secret question",
               "CN-OTHER", "Secret Contact", "Secret street", "MD-OTHER", "BE68")
    return ids, secrets


def _portal_rules_with_ids(app):
    rules = [rule for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith("portal.") and rule.arguments
             and rule.endpoint not in NOT_AN_ID]
    assert rules, "the portal has no route with an id?"
    return rules


def test_every_route_with_an_id_is_404_for_another_customers_record(app, portal_client):
    mine = make_customer(name="My Own Company", email="me@example.test")
    my_invoice = make_invoice(mine, total="12.00", due_in_days=-1)
    ids, secrets = _other_customers_records()
    # Make the other customer's ids differ from mine, so a 404 cannot come from "no such row".
    assert my_invoice.id != ids["invoice_id"]
    client = portal_client(mine)
    token = csrf_from(client.get("/portal/").get_data(as_text=True))
    checked = []
    for rule in _portal_rules_with_ids(app):
        unknown = set(rule.arguments) - set(ids)
        assert not unknown, (f"{rule.rule}: add a record of another customer for {unknown} to "
                             f"this test so that its scoping is checked")
        path = rule.build({arg: ids[arg] for arg in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method == "GET":
                response = client.get(path)
            else:
                response = client.open(path, method=method, data={"csrf_token": token})
            body = response.get_data(as_text=True)
            assert response.status_code == 404, f"{method} {path}: {response.status_code}"
            leaked = [s for s in secrets if s in body]
            assert not leaked, f"{method} {path} shows {leaked}"
            checked.append(f"{method} {rule.endpoint}")
    # The routes of this issue are all covered (more join as the portal grows).
    for endpoint in ("portal.invoice", "portal.invoice_pdf", "portal.pay_invoice"):
        assert f"GET {endpoint}" in checked
    # And my own invoice opens on the same routes (so the 404s above are about scoping).
    for url in (f"/portal/invoices/{my_invoice.id}", f"/portal/invoices/{my_invoice.id}/pdf",
                f"/portal/invoices/{my_invoice.id}/pay"):
        assert client.get(url).status_code == 200, url


def test_lists_and_totals_never_include_another_customer(portal_client):
    mine = make_customer(name="Mine", email="mine@example.test", language="en")
    make_invoice(mine, total="10.00", due_in_days=-2)
    _ids, secrets = _other_customers_records()
    client = portal_client(mine)
    for url in ("/portal/", "/portal/invoices?status=all", "/portal/invoices?status=overdue",
                "/portal/pay", "/portal/statement", "/portal/statement.csv",
                "/portal/invoices?status=all&q=INV"):
        body = client.get(url).get_data(as_text=True)
        leaked = [s for s in secrets if s in body]
        assert not leaked, f"{url} shows {leaked}"


@pytest.mark.parametrize("url", ["/portal/", "/portal/invoices", "/portal/invoices/1",
                                 "/portal/invoices/1/pdf", "/portal/invoices/1/pay",
                                 "/portal/pay", "/portal/statement", "/portal/statement.pdf",
                                 "/portal/statement.csv"])
def test_every_page_needs_a_signed_in_customer(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/portal/login")


@pytest.mark.parametrize("invoice_id", ["0", "2147483648", "99999999999999999999"])
def test_absurd_ids_are_404_not_errors(portal_client, invoice_id):
    client = portal_client(make_customer(email=f"absurd{invoice_id[:3]}@example.test",
                                         language="en"))
    for suffix in ("", "/pdf", "/pay"):
        response = client.get(f"/portal/invoices/{invoice_id}{suffix}")
        assert response.status_code == 404
        assert "not part of your account" in response.get_data(as_text=True)
        assert response.headers["X-Frame-Options"] == "DENY"
