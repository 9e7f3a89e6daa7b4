"""Returns and reversals: the invoice is open again, staff see it, the customer sees the
returned direct debit."""
from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import select

from app.customers.models import Mandate
from app.extensions import db
from app.payments.incoming.importing import import_statement
from app.payments.incoming.models import StatementLine
from app.payments.models import Allocation, Payment
from app.payments.services import returned_payments
from app.requests.models import Deferral
from tests.payments.statements.builders import CodaMovement, Entry, Tx, camt053, coda
from tests.payments.statements.conftest import count, fresh

DD = ("PMNT", "IDDT", "ESDD")


def _collect(invoice, n=1, mandate="UMR-1", e2e=None):
    """Our direct debit collection for an invoice, credited on the statement."""
    return Entry(str(invoice.open_amount), ref=f"C{n}", family=DD, txs=[Tx(
        amount=None, end_to_end=e2e or invoice.number, mandate=mandate, iban=None)])


def _return(amount, n=1, mandate="UMR-1", e2e=None, reason="MD06", reversal=True):
    return Entry(str(amount), credit=False, reversal=reversal, ref=f"R{n}",
                 family=("PMNT", "IDDT", "UPDD"),
                 txs=[Tx(end_to_end=e2e, mandate=mandate, return_reason=reason, iban=None)])


def test_a_returned_direct_debit_reopens_the_invoice(customer, invoices):
    invoice = invoices[1]
    first = import_statement(camt053([_collect(invoice)], statement_id="D1"), "d1.xml")
    assert first.matched.count == 1 and fresh(invoice).status == "paid"
    report = import_statement(camt053([_return("250.00", e2e=invoice.number)],
                                      statement_id="D2"), "d2.xml")
    assert (report.returns.count, report.returns.amount) == (1, D("-250.00"))
    invoice = fresh(invoice)
    assert (invoice.status, invoice.open_amount, invoice.paid_on) == ("open", D("250.00"), None)
    payment = db.session.scalar(select(Payment))
    # The customer sees the payment as returned, with the bank's reason.
    assert (payment.status, payment.return_reason) == ("returned", "MD06")
    assert payment.method == "direct_debit" and payment.returned_at is not None
    allocation = db.session.scalar(select(Allocation))
    assert allocation.reversed_at is not None and "MD06" in allocation.reversal_reason
    line = db.session.scalar(select(StatementLine).where(StatementLine.kind == "return"))
    assert (line.status, line.match_rule) == ("matched", "return_end_to_end")
    assert payment.return_line_id == line.id
    assert fresh(customer).balance == D("451.00")
    # Staff: the return waits on the cash screen until someone marks it reviewed.
    assert line.reviewed_at is None
    assert returned_payments(customer.id) == [payment]


def test_a_return_found_by_mandate_and_amount(customer, invoices):
    db.session.add(Mandate(customer=customer, reference="UMR-42", status="active"))
    db.session.commit()
    import_statement(camt053([_collect(invoices[0], mandate="UMR-42", e2e="BATCH-7")],
                             statement_id="D1"), "d1.xml")
    assert fresh(invoices[0]).status == "paid"
    report = import_statement(camt053([_return("121.00", mandate="UMR-42", e2e="OTHER")],
                                      statement_id="D2"), "d2.xml")
    assert report.returns.count == 1
    assert fresh(invoices[0]).status == "open"


def test_a_kept_promise_is_active_again_after_a_return(customer, invoices):
    from datetime import date, timedelta

    deferral = Deferral(customer=customer, invoice=invoices[1], original_due_date=date.today(),
                        new_due_date=date.today() + timedelta(days=20))
    db.session.add(deferral)
    db.session.commit()
    import_statement(camt053([_collect(invoices[1])], statement_id="D1"), "d1.xml")
    assert fresh(deferral).status == "kept"
    import_statement(camt053([_return("250.00", e2e=invoices[1].number)], statement_id="D2"),
                     "d2.xml")
    assert fresh(deferral).status == "active"


def test_a_collection_and_its_return_in_the_same_statement(customer, invoices):
    report = import_statement(camt053([_collect(invoices[1]),
                                       _return("250.00", e2e=invoices[1].number)]), "same.xml")
    assert report.matched.count == 1 and report.returns.count == 1
    assert fresh(invoices[1]).status == "open"


def test_a_return_whose_payment_is_unknown_waits_for_a_person(customer, invoices):
    report = import_statement(camt053([_return("99.00", e2e="NOT-OURS", mandate="UMR-X")]),
                              "r.xml")
    assert (report.returns.count, report.returns_open.count) == (0, 1)
    line = db.session.scalar(select(StatementLine))
    assert line.status == "unmatched" and "return_not_found" in line.suggestion["notes"]
    assert count(Allocation, Allocation.reversed_at.is_not(None)) == 0


def test_money_coming_back_to_us_is_not_taken_for_a_customer_payment(customer, invoices):
    refund_bounced = Entry("121.00", ref="B1", reversal=True, txs=[Tx(
        strd=[(invoices[0].structured_reference, "SCOR", "BBA")], return_reason="AC04",
        iban=None)])
    report = import_statement(camt053([refund_bounced]), "bounce.xml")
    assert report.unmatched.count == 1 and report.matched.count == 0
    line = db.session.scalar(select(StatementLine))
    assert "incoming_return" in line.suggestion["notes"]
    assert fresh(invoices[0]).status == "open"


def test_a_coda_return_record(customer, invoices):
    import_statement(coda([CodaMovement(str(invoices[2].open_amount),
                                        ogm=invoices[2].structured_reference,
                                        end_to_end="E2E-80", bank_ref="K1")]), "a.cod")
    assert fresh(invoices[2]).status == "paid"
    report = import_statement(coda([CodaMovement("-80.00", text="RETOUR", r_type="2",
                                                 reason="AC04", end_to_end="E2E-80",
                                                 bank_ref="K2")], number="043"), "b.cod")
    assert report.returns.count == 1
    assert fresh(invoices[2]).status == "open"
    assert db.session.scalar(select(Payment)).return_reason == "AC04"
