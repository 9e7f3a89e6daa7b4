"""Matching by picking through the back office: tick invoices, confirm (CSRF), see the result;
stale forms and roles refused with nothing booked; payments without a statement line; two staff
confirming the same line at once book it once."""
from __future__ import annotations

import re
from decimal import Decimal
from html import unescape

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app.core.i18n import money
from app.customers.models import BankAccount
from app.extensions import db
from app.invoices.models import Invoice
from app.payments.incoming.importing import import_statement
from app.payments.incoming.models import StatementLine
from app.payments.models import Allocation, Payment
from tests.helpers import csrf_token, make_customer, make_invoice
from tests.payments.statements.builders import Entry, Tx, camt053

IBAN = "BE68539007547034"
D = Decimal


@pytest.fixture
def unmatched():
    """A 150.00 transfer from a known account with no usable reference; the customer has three
    open invoices of which two (100.00 + 50.00) make the amount."""
    customer = make_customer(name="Brasserie Dupont", language="fr")
    db.session.add(BankAccount(customer_id=customer.id, iban=IBAN, status="active"))
    db.session.commit()
    a = make_invoice(customer, "100.00", due_in_days=-30)
    b = make_invoice(customer, "50.00", due_in_days=-20)
    c = make_invoice(customer, "80.00", due_in_days=10)
    report = import_statement(camt053([Entry("150.00", ref="H1", txs=[Tx(
        ustrd=["virement"], name="Dupont", iban=IBAN)])]), "h.xml")
    assert report.ok, report.error
    line = db.session.scalar(select(StatementLine))
    assert line.status in ("unmatched", "suggested")
    return line, customer, (a, b, c)


def _form(html: str, customer_id: int) -> dict:
    block = re.search(rf'<form[^>]*id="candidate-{customer_id}".*?</form>', html, re.DOTALL)
    assert block, "no picking form for this customer"
    form = block.group(0)
    return {"csrf_token": csrf_token(form), "customer": str(customer_id),
            "ticked": re.findall(r'name="invoice" value="(\d+)"[^>]*checked', form),
            "seen": dict(re.findall(r'name="seen_(\d+)" value="([^"]+)"', form))}


def _post(client, url, form, invoices, amounts=None):
    data = [("csrf_token", form["csrf_token"]), ("customer", form["customer"])]
    for invoice in invoices:
        data += [("invoice", str(invoice.id)), (f"seen_{invoice.id}", form["seen"][str(invoice.id)])]
        data.append((f"amount_{invoice.id}", (amounts or {}).get(invoice.id, "")))
    return client.post(url, data=MultiDict(data))


def test_the_page_proposes_the_two_invoices_ticked(staff_client, unmatched):
    line, customer, (a, b, _c) = unmatched
    client = staff_client("AR clerk")
    client.get("/lang/fr")
    html = client.get(f"/matching/line/{line.id}").get_data(as_text=True)
    form = _form(html, customer.id)
    assert sorted(form["ticked"]) == sorted([str(a.id), str(b.id)])
    assert "Rapprochement par sélection" in html or "Match by picking" in html
    assert "150,00" in html  # the amount in the French way


def test_tick_and_confirm_books_the_invoices(staff_client, unmatched):
    line, customer, (a, b, c) = unmatched
    client = staff_client("AR clerk")
    form = _form(client.get(f"/matching/line/{line.id}").get_data(as_text=True), customer.id)
    response = _post(client, f"/matching/line/{line.id}/pick", form, [a, b])
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    db.session.expire_all()
    assert (a.status, a.open_amount, b.status, b.open_amount) == ("paid", 0, "paid", 0)
    assert c.open_amount == D("80.00") and c.status == "open"
    assert db.session.get(StatementLine, line.id).status == "matched"
    payment = db.session.scalar(select(Payment).where(Payment.statement_line_id == line.id))
    assert payment.unallocated_amount == 0 and payment.customer_id == customer.id
    open_left = db.session.scalar(select(func.sum(Invoice.open_amount)).where(
        Invoice.customer_id == customer.id))
    assert open_left == D("80.00")
    assert db.session.get(type(customer), customer.id).balance == D("80.00")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert a.number in page and b.number in page


def test_a_partial_amount_typed_with_a_comma_and_the_rest_as_credit(staff_client, unmatched):
    line, customer, (a, _b, _c) = unmatched
    client = staff_client("AR clerk")
    form = _form(client.get(f"/matching/line/{line.id}").get_data(as_text=True), customer.id)
    response = _post(client, f"/matching/line/{line.id}/pick", form, [a],
                     amounts={a.id: "12,50"})
    assert response.status_code == 302
    db.session.expire_all()
    assert a.open_amount == D("87.50")
    # 230.00 open - 12.50 paid - 137.50 credit
    assert db.session.get(type(customer), customer.id).balance == D("80.00")
    payment = db.session.scalar(select(Payment).where(Payment.statement_line_id == line.id))
    assert payment.unallocated_amount == D("137.50")  # credit on the customer's account
    assert db.session.get(StatementLine, line.id).status == "matched"


def test_a_stale_form_is_refused_in_french_and_nothing_is_booked(staff_client, unmatched):
    line, customer, (a, b, _c) = unmatched
    client = staff_client("AR clerk")
    client.get("/lang/fr")
    form = _form(client.get(f"/matching/line/{line.id}").get_data(as_text=True), customer.id)
    a.open_amount = D("60.00")  # paid partly meanwhile
    db.session.commit()
    response = _post(client, f"/matching/line/{line.id}/pick", form, [a, b])
    assert response.status_code == 400
    html = unescape(response.get_data(as_text=True))
    with force_locale("fr"):  # the refusal in the clerk's language (fr)
        expected = gettext("Invoice %(invoice)s changed meanwhile (now %(open)s open): nothing "
                           "was booked; look at the proposal again.", invoice=a.number,
                           open=money(D("60.00")))
    assert expected in html
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 0
    assert b.open_amount == D("50.00")
    assert db.session.get(StatementLine, line.id).status in ("unmatched", "suggested")


def test_read_only_cannot_confirm_and_no_csrf_is_refused(staff_client, unmatched):
    line, customer, (a, b, _c) = unmatched
    reader = staff_client("Read-only")
    page = reader.get(f"/matching/line/{line.id}")
    assert page.status_code == 200
    form = _form(page.get_data(as_text=True), customer.id)
    assert 'class="btn btn-success btn-sm cd-confirm"' not in page.get_data(as_text=True)
    response = _post(reader, f"/matching/line/{line.id}/pick", form, [a, b])
    assert response.status_code in (302, 403)
    clerk = staff_client("AR clerk")
    response = clerk.post(f"/matching/line/{line.id}/pick", data={
        "customer": customer.id, "invoice": a.id, f"seen_{a.id}": "100.00"})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 0


def test_bad_input_is_refused_with_a_message(staff_client, unmatched):
    line, customer, (a, _b, _c) = unmatched
    client = staff_client("AR clerk")
    form = _form(client.get(f"/matching/line/{line.id}").get_data(as_text=True), customer.id)
    for amounts, invoices in (({a.id: "douze"}, [a]), ({}, [])):
        response = _post(client, f"/matching/line/{line.id}/pick", form, invoices, amounts)
        assert response.status_code == 400
    response = client.post(f"/matching/line/{line.id}/pick", data={
        "csrf_token": form["csrf_token"], "customer": "abc", "invoice": "x"})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 0


def test_a_payment_without_a_statement_line_is_picked(staff_client):
    customer = make_customer(name="Garage Martin")
    a = make_invoice(customer, "40.00", due_in_days=-10)
    b = make_invoice(customer, "60.00", due_in_days=-5)
    make_invoice(customer, "70.00", due_in_days=5)
    payment = Payment(amount=D("100.00"), unallocated_amount=D("100.00"),
                      received_on=a.issue_date, method="online", status="unmatched",
                      counterparty_name="Martin Garage", communication="paiement")
    db.session.add(payment)
    db.session.commit()
    client = staff_client("AR clerk")
    credits = client.get("/matching/credits").get_data(as_text=True)
    assert f"/matching/payment/{payment.id}" in credits
    html = client.get(f"/matching/payment/{payment.id}").get_data(as_text=True)
    form = _form(html, customer.id)
    assert sorted(form["ticked"]) == sorted([str(a.id), str(b.id)])
    response = _post(client, f"/matching/payment/{payment.id}/pick", form, [a, b])
    assert response.status_code == 302
    db.session.expire_all()
    assert payment.unallocated_amount == 0 and payment.customer_id == customer.id
    assert a.status == b.status == "paid"
    # Nothing left: the page says so, and a second confirm books nothing more.
    again = _post(client, f"/matching/payment/{payment.id}/pick", form, [a])
    assert again.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 2


# --- two staff confirming at once (threads + barrier; PostgreSQL row locks, SQLite write lock) --

def _racing_line(n: int, amount: str = "150.00"):
    customer = make_customer(name=f"Course {n}")
    a = make_invoice(customer, "100.00", due_in_days=-30)
    b = make_invoice(customer, "50.00", due_in_days=-20)
    report = import_statement(camt053([Entry(amount, ref=f"R{n}", txs=[Tx(
        ustrd=["virement"], name="X", iban=None)])], statement_id=f"RACE-{n}",
        opening="0.00"), f"race{n}.xml")
    assert report.ok, report.error
    line = db.session.scalar(select(StatementLine).order_by(StatementLine.id.desc()))
    return line, customer, a, b


def _confirming(app, line_id, customer_id, invoices):
    from app.payments.incoming.picking import Pick, confirm_pick
    from tests.helpers import make_staff_user

    def action(ready):
        line = db.session.get(StatementLine, line_id)
        clerk = make_staff_user(app, "AR clerk")
        picks = [Pick(i.id, i.open_amount) for i in invoices]
        ready()
        confirm_pick(line=line, customer_id=customer_id, picks=picks, user=clerk)
        db.session.commit()

    return action


def test_two_staff_confirming_the_same_line_book_it_once(app):
    from tests.requests.race_support import ROUNDS, one_winner, race, refusal_text

    for n in range(ROUNDS):
        line, customer, a, b = _racing_line(n)
        confirm = _confirming(app, line.id, customer.id, [a, b])
        _winner, [loser] = one_winner(race(app, confirm, confirm))
        assert "nothing was booked" in refusal_text(loser)
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(Allocation).where(
            Allocation.invoice_id.in_([a.id, b.id]))) == 2
        assert db.session.scalar(select(func.count()).select_from(Payment).where(
            Payment.statement_line_id == line.id)) == 1
        assert (a.open_amount, b.open_amount) == (0, 0)


def test_two_lines_picking_the_same_invoice_at_once_pay_it_once(app):
    from tests.requests.race_support import ROUNDS, one_winner, race, refusal_text

    for n in range(ROUNDS):
        first, customer, a, _b = _racing_line(100 + n, "100.00")
        second = _racing_line(200 + n, "100.00")[0]
        _winner, [loser] = one_winner(race(
            app, _confirming(app, first.id, customer.id, [a]),
            _confirming(app, second.id, customer.id, [a])))
        assert a.number in refusal_text(loser)
        db.session.expire_all()
        assert a.open_amount == 0 and a.status == "paid"
        assert db.session.scalar(select(func.count()).select_from(Allocation).where(
            Allocation.invoice_id == a.id)) == 1


def test_a_customer_without_open_invoices_keeps_the_money_as_credit(staff_client):
    customer = make_customer(name="Garage Martin")
    db.session.add(BankAccount(customer_id=customer.id, iban=IBAN, status="active"))
    db.session.commit()
    report = import_statement(camt053([Entry("45.00", ref="K1", txs=[Tx(
        ustrd=["avance"], name="G M", iban=IBAN)])]), "k.xml")
    assert report.ok, report.error
    line = db.session.scalar(select(StatementLine))
    client = staff_client("AR clerk")
    html = client.get(f"/matching/line/{line.id}").get_data(as_text=True)
    form = _form(html, customer.id)
    assert "cd-credit-only" in html and form["ticked"] == []
    response = client.post(f"/matching/line/{line.id}/pick", data={
        "csrf_token": form["csrf_token"], "customer": customer.id, "credit_only": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    payment = db.session.scalar(select(Payment).where(Payment.statement_line_id == line.id))
    assert payment.customer_id == customer.id and payment.unallocated_amount == D("45.00")
    assert db.session.get(StatementLine, line.id).status == "matched"
    assert db.session.get(type(customer), customer.id).balance == D("-45.00")
    assert f"/matching/payment/{payment.id}" not in client.get(
        "/matching/credits").get_data(as_text=True)  # a line's payment is picked on its line
