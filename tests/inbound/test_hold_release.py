"""A reply's hold ends when what it waited for happens: the payment is booked (whatever the
path) or the customer uses the self-service action the reply was about; the release is on the
360° timeline and the next reminder goes again."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.customers.timeline import customer_timeline
from app.dunning.engine import evaluate
from app.dunning.holds import ReminderHold, holds_of
from app.extensions import db
from app.inbound.receiving import receive
from app.payments.models import Payment
from app.payments.services import allocate, book_payment
from tests.dunning.conftest import consumer, overdue, today
from tests.inbound import mails


@pytest.fixture(autouse=True)
def dunning_defaults():
    from app.dunning.defaults import install_defaults

    install_defaults()


def reply(customer, text: str):
    row = receive(mails.reply(text, sender=customer.email)).message
    db.session.commit()
    return row


def only_hold(row) -> ReminderHold:
    return db.session.get(ReminderHold, row.hold_id)


def outcome(customer) -> str:
    return evaluate(today(), customer_ids=[customer.id]).decisions[0].outcome


def timeline_titles(customer) -> list[str]:
    return [e.title for e in customer_timeline(customer.id, limit=50).events]


def test_already_paid_hold_ends_when_the_payment_is_booked_and_the_timeline_says_so():
    customer = consumer(email="paid@example.test", language="en")
    invoice = overdue(customer, 30)
    overdue(customer, 40, total="50.00")
    row = reply(customer, f"Hello, invoice {invoice.number} has already been paid last week.")
    assert row.category == "paid" and only_hold(row).awaits == "paid"
    assert outcome(customer) == "excluded"
    book_payment(amount=Decimal("100.00"), received_on=today(), customer_id=customer.id,
                 invoices=[invoice], fill_oldest=False)
    db.session.commit()
    hold = only_hold(row)
    assert hold.released_at is not None and hold.released_by == "payment"
    assert holds_of(customer.id) == []
    # The other invoice is still open and overdue: its reminder goes again.
    assert outcome(customer) == "remind"
    assert "Reminders no longer held: the payment was booked" in timeline_titles(customer)


def test_a_payment_allocated_by_hand_releases_it_too():
    customer = consumer(email="hand@example.test", language="fr")
    invoice = overdue(customer, 30)
    row = reply(customer, "Bonjour, la facture a déjà été payée par virement hier.")
    assert only_hold(row).awaits == "paid"
    # A bank line that was not matched, then allocated by staff (no customer on it yet).
    payment = Payment(amount=Decimal("100.00"), unallocated_amount=Decimal("100.00"),
                      received_on=today(), method="transfer", currency="EUR",
                      status="unmatched")
    db.session.add(payment)
    db.session.flush()
    allocate(payment, invoice, Decimal("40.00"))
    db.session.commit()
    assert only_hold(row).released_by == "payment"


def test_a_payment_from_a_statement_file_releases_it():
    from app.payments.incoming.importing import import_statement
    from tests.payments.statements.builders import Entry, Tx, camt053

    customer = consumer(email="bank@example.test", language="nl")
    invoice = overdue(customer, 30, structured_reference="+++090/9337/55493+++")
    row = reply(customer, "Goedendag, de factuur is al betaald via overschrijving.")
    assert only_hold(row).awaits == "paid"
    report = import_statement(camt053([Entry("100.00", txs=[Tx(
        "100.00", strd=[(invoice.structured_reference.strip("+").replace("/", ""), "SCOR",
                         "BBA")])])]), "bank.xml")
    db.session.commit()
    assert db.session.get(type(invoice), invoice.id).status == "paid", report
    assert only_hold(row).released_by == "payment"


def test_a_payment_does_not_end_the_hold_of_a_dispute_nor_another_customers_hold():
    disputing = consumer(email="dispute@example.test", language="en")
    other = consumer(email="other@example.test", language="en")
    invoice = overdue(disputing, 30)
    others_invoice = overdue(other, 30)
    disputed = reply(disputing, f"Hi, we dispute invoice {invoice.number}: the amount is "
                                "wrong and we never received the goods.")
    paid = reply(other, "Hello, we have already paid the invoice last week.")
    assert only_hold(disputed).awaits == "dispute"
    book_payment(amount=Decimal("30.00"), received_on=today(), customer_id=disputing.id,
                 invoices=[invoice], fill_oldest=False)
    db.session.commit()
    assert only_hold(disputed).released_at is None
    assert only_hold(paid).released_at is None
    assert outcome(other) == "excluded"
    del others_invoice


def test_asking_for_a_deferral_in_the_portal_settles_a_need_more_time_reply():
    from app.requests.deferrals import request_deferral

    customer = consumer(email="time@example.test", language="fr")
    invoice = overdue(customer, 5)
    row = reply(customer, "Bonjour, pourrais-je avoir un plan de paiement ? Je ne peux pas tout "
                          "payer ce mois-ci.")
    assert only_hold(row).awaits == "more_time"
    result = request_deferral(customer, [invoice], today() + timedelta(days=20),
                              channel="portal")
    db.session.commit()
    hold = only_hold(row)
    assert hold.released_by == f"request:{result.request.id}"
    titles = timeline_titles(customer)
    assert any(t.startswith("Reminders no longer held: the customer's request: Deferral")
               for t in titles), titles


def test_a_dispute_opened_by_the_customer_settles_a_dispute_reply_but_a_question_does_not():
    from app.requests.disputes import open_dispute
    from app.requests.services import open_request

    customer = consumer(email="wrong@example.test", language="en")
    invoice = overdue(customer, 30)
    row = reply(customer, f"Hi, we dispute invoice {invoice.number}: never received the goods.")
    open_request(customer, "question", channel="portal", subject="Where is my order?")
    db.session.commit()
    assert only_hold(row).released_at is None
    dispute = open_dispute(customer, invoice, "100.00", "not_received", "Never delivered.",
                           channel="portal")
    db.session.commit()
    assert only_hold(row).released_by == f"request:{dispute.request_id}"
    assert holds_of(customer.id) == []


def test_an_other_reply_is_never_released_by_its_own_question_request():
    customer = consumer(email="q@example.test", language="en")
    overdue(customer, 30)
    row = reply(customer, mails.EN_OTHER)
    assert row.request_id is not None and only_hold(row).awaits is None
    assert only_hold(row).released_at is None
    assert db.session.scalars(select(ReminderHold).where(
        ReminderHold.released_at.is_not(None))).all() == []
