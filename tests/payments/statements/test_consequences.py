"""What a payment does, in the same transaction: open amounts and statuses, partial, multiple
and over-payments, promises kept, plan instalments, balances, thank-you messages."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

from sqlalchemy import select

from app.extensions import db
from app.invoices.references import format_ogm, make_ogm
from app.notifications.models import Message
from app.payments.incoming.importing import import_statement
from app.payments.incoming.models import StatementLine
from app.payments.models import Allocation, InstallmentPayment, Payment
from app.payments.services import clean_payment, post_payment
from app.requests.models import Deferral, Installment, PaymentPlan
from tests.helpers import make_customer, make_invoice
from tests.payments.statements.builders import Entry, Tx, camt053
from tests.payments.statements.conftest import count, fresh


def _pay(amount, n=0, **tx) -> StatementLine:
    tx.setdefault("iban", None)
    report = import_statement(camt053([Entry(str(amount), ref=f"P{n}", txs=[Tx(**tx)])],
                                      statement_id=f"S{n}"), f"s{n}.xml")
    assert report.ok, report.error
    return db.session.scalar(select(StatementLine).order_by(StatementLine.id.desc()).limit(1))


def _strd(invoice):
    return [(invoice.structured_reference, "SCOR", "BBA")]


def test_a_partial_payment(customer, invoices):
    line = _pay("21.00", strd=_strd(invoices[0]))
    invoice = fresh(invoices[0])
    assert (invoice.status, invoice.open_amount) == ("partially_paid", D("100.00"))
    assert line.payment.status == "allocated" and line.payment.customer_id == customer.id
    assert fresh(customer).balance == D("100.00") + D("250.00") + D("80.00")


def test_a_payment_bigger_than_its_invoice_pays_the_oldest_others_then_is_credit(
        customer, invoices):
    newest, oldest, middle = invoices[2], invoices[0], invoices[1]
    line = _pay("500.00", strd=_strd(newest))
    allocations = db.session.scalars(select(Allocation).where(
        Allocation.payment_id == line.payment.id).order_by(Allocation.id)).all()
    # The invoice named first, then the oldest open ones.
    assert [(a.invoice_id, a.amount, a.rule) for a in allocations] == [
        (newest.id, D("80.00"), "structured_reference"),
        (oldest.id, D("121.00"), "oldest_first"),
        (middle.id, D("250.00"), "oldest_first")]
    payment = fresh(line.payment)
    # 500 - 451: credit on the customer's account, for a refund or the next invoice.
    assert payment.unallocated_amount == D("49.00")
    assert payment.status == "partially_allocated"
    # The balance nets the credit: the customer owes -49.00 (we owe them), the same figure the
    # statement import's fast path stored and compute_balance gives.
    from app.customers.services import compute_balance

    assert fresh(customer).balance == D("-49.00") == compute_balance(customer.id)


def test_one_payment_for_several_invoices_named_in_the_text(customer, invoices):
    second, third = invoices[1], invoices[2]
    text = f"factures {format_ogm(third.structured_reference)} et " \
           f"{format_ogm(second.structured_reference)}"
    _pay("300.00", ustrd=[text])
    # The reference says which, and in which order: the third first, then the second.
    assert (fresh(third).status, fresh(third).open_amount) == ("paid", D("0.00"))
    assert (fresh(second).status, fresh(second).open_amount) == ("partially_paid", D("30.00"))
    assert fresh(invoices[0]).status == "open"


def test_a_promise_to_pay_is_kept_when_the_invoice_is_paid(customer, invoices):
    today = date.today()
    kept = Deferral(customer=customer, invoice=invoices[0], original_due_date=today,
                    new_due_date=today + timedelta(days=30))
    partly = Deferral(customer=customer, invoice=invoices[1], original_due_date=today,
                      new_due_date=today + timedelta(days=30))
    db.session.add_all([kept, partly])
    db.session.commit()
    _pay("121.00", 1, strd=_strd(invoices[0]))
    _pay("50.00", 2, strd=_strd(invoices[1]))
    assert fresh(kept).status == "kept"
    assert fresh(partly).status == "active"


def _plan(customer, invoice, late: bool = False) -> PaymentPlan:
    today = date.today()
    plan = PaymentPlan(customer=customer, status="active", total_amount=invoice.total_amount,
                       installment_count=2, day_of_month=5, start_date=today, invoices=[invoice])
    first_due = today - timedelta(days=10) if late else today + timedelta(days=5)
    half = (invoice.total_amount / 2).quantize(D("0.01"))
    for sequence, due in ((1, first_due), (2, first_due + timedelta(days=30))):
        plan.installments.append(Installment(
            sequence=sequence, due_date=due, amount=half, status="late" if late and
            sequence == 1 else "due", structured_reference=make_ogm(900000 + invoice.id * 10
                                                                    + sequence)))
    db.session.add(plan)
    db.session.commit()
    return plan


def test_an_instalment_reference_pays_the_instalment_and_the_plans_invoice(customer, invoices):
    plan = _plan(customer, invoices[1], late=True)
    first, second = plan.installments
    line = _pay("125.00", strd=[(first.structured_reference, "SCOR", "BBA")])
    assert (line.status, line.match_rule) == ("matched", "structured_reference")
    assert (fresh(first).status, fresh(first).paid_amount) == ("paid", D("125.00"))
    assert fresh(second).status == "due"
    # The late instalment is paid: nothing is late any more, the broken-plan clock stops.
    assert not db.session.scalars(select(Installment).where(
        Installment.plan_id == plan.id, Installment.status == "late")).all()
    invoice = fresh(invoices[1])
    assert (invoice.status, invoice.open_amount) == ("partially_paid", D("125.00"))
    assert fresh(plan).status == "active"
    assert count(InstallmentPayment) == 1


def test_paying_the_whole_plan_completes_it(customer, invoices):
    plan = _plan(customer, invoices[1])
    first = plan.installments[0]
    _pay("250.00", strd=[(first.structured_reference, "SCOR", "BBA")])
    assert [i.status for i in fresh(plan).installments] == ["paid", "paid"]
    assert fresh(plan).status == "completed"
    assert fresh(invoices[1]).status == "paid"


def test_thank_you_and_account_settled_messages_are_queued(templates):
    customer = make_customer(email="anne@example.test", language="fr")
    only = make_invoice(customer, "60.00")
    line = _pay("60.00", strd=_strd(only))
    events = sorted(db.session.scalars(select(Message.event).where(
        Message.customer_id == customer.id)))
    assert events == ["account_settled", "payment_received"]
    assert fresh(line.payment).notified_at is not None
    thanks = db.session.scalar(select(Message).where(Message.event == "payment_received"))
    assert "60,00" in thanks.body_text  # in the customer's language


def test_paying_a_little_too_much_still_settles_the_account(templates):
    customer = make_customer(email="over@example.test", language="nl")
    only = make_invoice(customer, "60.00")
    _pay("60.50", strd=_strd(only))
    events = sorted(db.session.scalars(select(Message.event).where(
        Message.customer_id == customer.id)))
    assert events == ["account_settled", "payment_received"]
    assert fresh(customer).balance == D("-0.50")


def test_a_partial_payment_thanks_without_settling(templates, customer, invoices):
    _pay("21.00", strd=_strd(invoices[0]))
    assert [m.event for m in db.session.scalars(select(Message))] == ["payment_received"]


def test_a_big_statement_queues_its_messages_in_a_job_after_the_commit(templates, customer,
                                                                       invoices):
    from app.core.settings import set_setting

    set_setting("payments.inline_messages_max", 1)
    db.session.commit()
    data = camt053([Entry(str(i.open_amount), ref=f"B{n}", txs=[Tx(strd=_strd(i), iban=None)])
                    for n, i in enumerate(invoices)])
    report = import_statement(data, "big.xml")
    assert report.messages == "deferred" and report.matched.count == 3
    # JOBS_MODE=sync in the tests: the job ran right after the commit.
    assert count(Message, Message.event == "payment_received") == 3
    assert count(Message, Message.event == "account_settled") == 1
    assert count(Payment, Payment.notified_at.is_(None)) == 0
    from app.payments.jobs import send_payment_messages

    assert send_payment_messages(report.statement_ids) == 0  # run again: nothing twice
    assert count(Message) == 4


def test_the_erp_api_path_books_through_the_same_rules(templates, customer, invoices):
    payment, created = post_payment(clean_payment({
        "customer_number": customer.number, "reference": invoices[1].number,
        "amount": "300.00", "received_on": date.today().isoformat()}))
    db.session.commit()
    assert created and payment.status == "allocated"
    assert fresh(invoices[1]).status == "paid"
    assert (fresh(invoices[0]).status, fresh(invoices[0]).open_amount) == ("partially_paid",
                                                                           D("71.00"))
    assert count(Message, Message.event == "payment_received") == 1


def test_a_paid_invoice_leaves_the_next_reminder_run(customer, invoices):
    """Reminders stop: the dunning run that would have reminded the oldest invoice no longer
    lists it once the bank statement paid it, and reminds the other overdue one only."""
    from app.dunning.defaults import install_defaults
    from app.dunning.engine import evaluate

    install_defaults()
    oldest, overdue_too = invoices[0], invoices[1]

    def reminded_ids() -> set[int]:
        decisions = evaluate(date.today() + timedelta(days=1), customer_ids=[customer.id])
        return {i.invoice.id for d in decisions.decisions if d.outcome == "remind"
                for i in (d.chosen or d.invoices)}

    assert oldest.id in reminded_ids()
    _pay("121.00", strd=_strd(oldest))
    assert fresh(oldest).status == "paid"
    after = reminded_ids()
    assert oldest.id not in after and overdue_too.id in after
