"""A direct debit the bank sent back: the customer is told once, in their language, why, what
is due again, and gets a link to the page where they can pay it."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.notifications import services
from app.notifications.models import Message
from app.payments.incoming.importing import import_statement
from app.payments.models import Payment
from tests.helpers import make_customer, make_invoice
from tests.notifications.deeplinks import deep_link_target, open_after_verification
from tests.payments.statements.builders import Entry, Tx, camt053


def _collect(invoice):
    """Our direct debit collection of the invoice, credited on the statement."""
    return Entry(str(invoice.open_amount), ref="C1", family=("PMNT", "IDDT", "ESDD"), txs=[
        Tx(amount=None, end_to_end=invoice.number, mandate="UMR-1", iban=None)])


def _return(invoice, amount, reason="AM04"):
    """The debtor's bank sends that collection back."""
    return Entry(amount, credit=False, reversal=True, ref="R1",
                 family=("PMNT", "IDDT", "UPDD"), txs=[
                     Tx(end_to_end=invoice.number, mandate="UMR-1", return_reason=reason,
                        iban=None)])


def _returned_messages():
    db.session.expire_all()
    return db.session.scalars(select(Message).where(Message.event == "payment_returned")
                              .order_by(Message.id)).all()


@pytest.mark.parametrize("language, wording", [
    ("nl", ("domiciliëring", "niet genoeg geld")),
    ("fr", ("domiciliation", "solde du compte était insuffisant")),
    ("en", ("direct debit", "not enough money")),
])
def test_a_returned_direct_debit_is_told_once_in_the_customers_language(app, defaults,
                                                                       language, wording):
    customer = make_customer(language=language, email="boekhouding@example.test")
    invoice = make_invoice(customer, "250.00", due_in_days=-10)
    import_statement(camt053([_collect(invoice)], statement_id="D1"), "d1.xml")
    assert _returned_messages() == []  # a collection that went through: only a thank-you

    statement = camt053([_return(invoice, "250.00")], statement_id="D2")
    report = import_statement(statement, "d2.xml")
    assert report.returns.count == 1
    [message] = _returned_messages()
    assert (message.customer_id, message.channel, message.recipient, message.language) == (
        customer.id, "email", "boekhouding@example.test", language)
    for words in wording:  # what happened and why, in plain words
        assert words in message.subject + message.body_text, words
    assert invoice.number in message.body_text and "+++" in message.body_text  # how to pay
    access = deep_link_target(message.body_text)
    assert access.target == f"/portal/invoices/{invoice.id}/pay"

    # The same statement again (the same file, or the entry in another file): nothing more.
    import_statement(statement, "d2.xml")
    import_statement(camt053([_return(invoice, "250.00")], statement_id="D2-again"), "d2-again.xml")
    assert len(_returned_messages()) == 1


def test_the_link_opens_the_pay_page_after_verification(app, defaults):
    customer = make_customer(language="fr", email="retour@example.test")
    invoice = make_invoice(customer, "80.00", due_in_days=-3)
    import_statement(camt053([_collect(invoice)], statement_id="D1"), "d1.xml")
    import_statement(camt053([_return(invoice, "80.00", reason="AC04")], statement_id="D2"), "d2.xml")
    [message] = _returned_messages()
    assert "clôturé" in message.body_text  # the account is closed ...
    assert "nouveau mandat" in message.body_text  # ... so: how to give a new one
    landing = open_after_verification(app, message.body_text, "retour@example.test")
    assert landing == f"/portal/invoices/{invoice.id}/pay"


def test_sms_too_for_customers_who_opted_in_and_an_unknown_reason_is_not_guessed(defaults):
    customer = make_customer(language="en", phone="+32470000002", sms_reminders=True)
    invoice = make_invoice(customer, "40.00", due_in_days=-3)
    import_statement(camt053([_collect(invoice)], statement_id="D1"), "d1.xml")
    import_statement(camt053([_return(invoice, "40.00", reason="XX99")], statement_id="D2"), "d2.xml")
    messages = {m.channel: m for m in _returned_messages()}
    assert set(messages) == {"email", "sms"}
    assert "reason" not in messages["email"].body_text
    assert "/portal/go/" in messages["sms"].body_text and len(messages["sms"].body_text) <= 320


def test_a_payment_without_customer_is_not_told(defaults):
    payment = Payment(received_on=make_invoice(make_customer()).issue_date,
                      amount=Decimal("10.00"), status="returned")
    db.session.add(payment)
    db.session.commit()
    assert services.notify_payment_returned(payment) == []
