"""The engine's decisions: levels, exclusions and their explanations, timing, fees."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from app.core.settings import set_setting
from app.customers.models import Customer
from app.dunning.engine import evaluate
from app.dunning.fees import be_consumer_lump_sum
from app.dunning.models import DunningAction
from app.dunning.runs import run
from app.extensions import db
from app.notifications.models import Message
from app.payments.models import Payment
from app.requests.models import Deferral, Dispute, Installment, PaymentPlan
from tests.dunning.conftest import (
    business,
    consumer,
    count,
    day,
    level,
    overdue,
    remind_state,
    texts,
    today,
)

pytestmark = pytest.mark.usefixtures("defaults")


def decision_for(customer, on=None):
    [decision] = evaluate(on or today(), customer_ids=[customer.id]).decisions
    return decision


def test_one_message_at_the_highest_level_listing_every_overdue_invoice():
    customer = consumer(name="Marie Dupont")
    oldest = overdue(customer, 45, total="200.00")
    remind_state(oldest, level=1, reminded_days_ago=17)  # received 16 days ago: 15-day wait over
    newer = overdue(customer, 20, total="80.00")          # first reminder due (7 days)
    recent = overdue(customer, 2, total="30.00")          # overdue, not yet reminded

    result = run(today())

    assert result.counts["remind"] == 1
    [action] = db.session.scalars(select(DunningAction)).all()
    assert action.level.sequence == 2 and action.level.tone == "firm"
    assert action.invoice_ids == [oldest.id, newer.id, recent.id]
    assert action.amount_due == D("310.00")
    messages = db.session.scalars(select(Message)).all()
    assert [m.channel for m in messages] == ["email"]
    body = messages[0].body_text
    assert all(number in body for number in (oldest.number, newer.number, recent.number))
    db.session.expire_all()
    assert (oldest.dunning_level, newer.dunning_level, recent.dunning_level) == (2, 1, 0)
    assert oldest.last_reminded_on == today() and recent.last_reminded_on is None
    assert oldest.last_reminder_effective_on == day(1)  # e-mail: counts from the next day
    # Fees only where the invoice's own level charges them (level 2 for Belgian consumers).
    assert oldest.dunning_fees == be_consumer_lump_sum(D("200.00")) and newer.dunning_fees == 0
    lines = {line.invoice_id: line for line in action.lines}
    assert lines[oldest.id].advanced and lines[newer.id].advanced
    assert not lines[recent.id].advanced and lines[recent.id].level_sequence == 0


def test_fourteen_day_wait_between_belgian_consumer_levels_counts_per_channel():
    by_email = consumer()
    overdue(by_email, 10)
    by_letter = consumer(delivery_channel="paper")
    overdue(by_letter, 10)
    run(today())
    actions = {a.customer_id: a for a in db.session.scalars(select(DunningAction))}
    assert actions[by_email.id].channels == "email"
    assert actions[by_letter.id].channels == "letter"
    email_received = actions[by_email.id].effective_on
    letter_received = actions[by_letter.id].effective_on
    assert email_received == day(1) and letter_received > email_received

    # 14 full days after receipt: the deadline itself; the second reminder the day after.
    waiting = decision_for(by_email, email_received + timedelta(days=14))
    assert waiting.outcome == "waiting"
    assert waiting.until == email_received + timedelta(days=15)
    assert "is possible on" in texts(waiting.invoices[0].reasons)
    assert decision_for(by_email, email_received + timedelta(days=15)).level.sequence == 2
    assert decision_for(by_letter, email_received + timedelta(days=15)).outcome == "waiting"
    assert decision_for(by_letter, letter_received + timedelta(days=15)).level.sequence == 2


def test_first_belgian_consumer_reminder_is_free_and_announces_the_damages():
    customer = consumer()
    overdue(customer, 10, total="420.00")
    decision = decision_for(customer)
    assert decision.level.sequence == 1 and decision.fee_total == 0
    assert decision.next_fees == D("57.00")  # €30 + 10 % of €270
    assert decision.next_rate is not None


def test_business_fees_are_40_euros_per_invoice_plus_interest_from_the_due_date():
    company = business()
    first = overdue(company, 40, total="1000.00")
    second = overdue(company, 40, total="500.00")
    for invoice in (first, second):
        remind_state(invoice, level=1, reminded_days_ago=20)
    decision = decision_for(company)
    assert decision.level.sequence == 2
    by_invoice = {i.invoice.id: i.fees for i in decision.listed}
    assert by_invoice[first.id].lump_sum == D("40.00") == by_invoice[second.id].lump_sum
    assert by_invoice[first.id].interest > 0
    assert by_invoice[first.id].rate == D("10.15")  # ECB 2.15 + 8 (shipped rates)


EXCLUSIONS = {
    "blocked": "Excluded from reminders by hand: customer called, paying Friday",
    "disputed": "Disputed: the whole open amount",
    "deferral": "Payment deferred until",
    "plan": "which is being kept",
}


@pytest.mark.parametrize("kind", sorted(EXCLUSIONS))
def test_invoice_exclusions_are_explained(kind):
    customer = consumer()
    invoice = overdue(customer, 20, total="100.00")
    other = overdue(customer, 20, total="50.00")
    if kind == "blocked":
        invoice.dunning_blocked = True
        invoice.dunning_block_reason = "customer called, paying Friday"
    elif kind == "disputed":
        db.session.add(Dispute(customer=customer, invoice=invoice, amount=D("100.00")))
    elif kind == "deferral":
        db.session.add(Deferral(customer=customer, invoice=invoice,
                                original_due_date=invoice.due_date, new_due_date=day(5)))
    else:
        plan = PaymentPlan(customer=customer, status="active", total_amount=D("100.00"),
                           installment_count=2, day_of_month=5, start_date=day(-5),
                           invoices=[invoice])
        db.session.add_all([plan, Installment(plan=plan, sequence=1, due_date=day(-3),
                                              amount=D("50.00"), structured_reference="1" * 12)])
    db.session.commit()

    decision = decision_for(customer)

    left_out = next(i for i in decision.invoices if i.invoice.id == invoice.id)
    assert left_out.status == "excluded"
    assert EXCLUSIONS[kind] in texts(left_out.reasons)
    assert decision.outcome == "remind" and [i.invoice.id for i in decision.listed] == [other.id]
    run(today())
    [action] = db.session.scalars(select(DunningAction)).all()
    assert action.invoice_ids == [other.id]
    assert any(EXCLUSIONS[kind] in r for r in _stored_reasons(action, invoice.id))


def _stored_reasons(action, invoice_id):
    from app.dunning.reasons import render_json

    for item in action.explanation["excluded"]:
        if item["id"] == invoice_id:
            return [render_json(r) for r in item["reasons"]]
    return []


def test_partly_disputed_invoice_is_reminded_for_the_rest():
    customer = consumer()
    invoice = overdue(customer, 20, total="100.00")
    db.session.add(Dispute(customer=customer, invoice=invoice, amount=D("30.00")))
    db.session.commit()
    decision = decision_for(customer)
    assert decision.amount_due == D("70.00")
    assert "€30.00 is disputed: only €70.00 is reminded." in texts(decision.listed[0].reasons)


@pytest.mark.parametrize("status", ["legal_proceedings", "insolvent", "collection_agency"])
def test_customers_in_legal_proceedings_insolvency_or_collection_get_nothing(status):
    customer = consumer(legal_status=status)
    overdue(customer, 30)
    decision = decision_for(customer)
    assert decision.outcome == "excluded"
    assert "legal status" in texts(decision.reasons)
    run(today())
    assert count(DunningAction) == 0 and count(Message) == 0


def test_amount_under_the_minimum_is_not_reminded():
    customer = consumer()
    overdue(customer, 30, total="3.00")
    decision = decision_for(customer)
    assert decision.outcome == "excluded"
    assert "is under the minimum of €5.00" in texts(decision.reasons)
    set_setting("dunning.minimum_amount", "2.00")
    db.session.commit()
    assert decision_for(customer).outcome == "remind"


def test_an_unmatched_recent_payment_holds_reminders():
    customer = consumer()
    overdue(customer, 30, total="80.00")
    db.session.add(Payment(customer=customer, received_on=day(-2), amount=D("80.00"),
                           unallocated_amount=D("80.00"), status="unmatched"))
    db.session.commit()
    decision = decision_for(customer)
    assert decision.outcome == "excluded"
    assert "is not matched yet" in texts(decision.reasons)
    # After N days (setting dunning.unmatched_payment_days = 5) reminders resume.
    assert decision_for(customer, day(4)).outcome == "remind"


def test_an_unmatched_bank_line_from_the_customers_known_account_holds_reminders():
    """The line is not booked (no reference), but it came from the customer's own account:
    found through the IBAN's keyed hash, as IBANs are encrypted at rest on both sides."""
    from app.customers.models import BankAccount
    from app.payments.incoming.models import BankStatement, StatementLine

    customer = consumer()
    overdue(customer, 30, total="80.00")
    stranger = consumer(name="Someone Else")
    overdue(stranger, 30, total="80.00")
    statement = BankStatement(format="camt.053", account_iban="BE68539007547034",
                              statement_ref="S-1", file_sha256="b" * 64)
    db.session.add_all([
        BankAccount(customer=customer, iban="BE71096123456769", status="active"),
        statement,
        StatementLine(statement=statement, booking_date=day(-1), amount=D("80.00"),
                      counterparty_iban="BE71 0961 2345 6769", status="unmatched",
                      dedup_key="line-1"),
    ])
    db.session.commit()
    decision = decision_for(customer)
    assert decision.outcome == "excluded"
    assert "is not matched yet" in texts(decision.reasons)
    assert decision_for(stranger).outcome == "remind"


def test_paused_customer_and_customer_without_policy():
    paused = consumer()
    paused.dunning_paused_until = day(3)
    paused.dunning_pause_reason = "bereavement"
    overdue(paused, 30)
    db.session.commit()
    assert "Reminders paused until" in texts(decision_for(paused).reasons)
    assert decision_for(paused, day(4)).outcome == "remind"

    german = business(country="DE")
    overdue(german, 30)
    from tests.dunning.conftest import policy

    policy("Businesses (Belgium and EU)").active = False
    db.session.commit()
    decision = decision_for(german)
    assert decision.outcome == "excluded"
    assert "No active dunning policy applies" in texts(decision.reasons)


def test_customer_override_policy_wins_over_the_segment():
    from tests.dunning.conftest import policy

    customer = consumer(country="BE")
    customer.dunning_policy_id = policy("Consumers in other countries (no fees)").id
    overdue(customer, 10)
    db.session.commit()
    decision = decision_for(customer)
    assert decision.policy.name == "Consumers in other countries (no fees)"
    assert decision.level.template_key == "dunning_reminder"


def test_a_broken_promise_resumes_reminders_by_itself():
    customer = consumer()
    invoice = overdue(customer, 30)
    deferral = Deferral(customer=customer, invoice=invoice, original_due_date=invoice.due_date,
                        new_due_date=day(-1))
    db.session.add(deferral)
    db.session.commit()
    decision = decision_for(customer)
    assert decision.outcome == "remind"
    assert "was not kept: reminders resume" in texts(decision.listed[0].reasons)
    assert db.session.get(Deferral, deferral.id).status == "active"  # a dry run changes nothing
    run(today())
    db.session.expire_all()
    assert db.session.get(Deferral, deferral.id).status == "broken"
    assert count(DunningAction) == 1
    told = db.session.scalars(select(Message).where(Message.event == "promise_broken")).all()
    assert [m.customer_id for m in told] == [customer.id]
    run(today())  # a second run of the same day tells nobody twice
    assert db.session.scalar(select(func.count()).select_from(Message)
                             .where(Message.event == "promise_broken")) == 1


def test_a_broken_plan_resumes_reminders_by_itself():
    customer = consumer()
    invoice = overdue(customer, 60, total="200.00")
    plan = PaymentPlan(customer=customer, status="active", total_amount=D("200.00"),
                       installment_count=2, day_of_month=1, start_date=day(-45),
                       invoices=[invoice])
    late = Installment(plan=plan, sequence=1, due_date=day(-11), amount=D("100.00"),
                       structured_reference="2" * 12)
    db.session.add_all([plan, late])
    db.session.commit()
    decision = decision_for(customer)
    assert "is broken (instalment due on" in texts(decision.listed[0].reasons)
    run(today())
    db.session.expire_all()
    plan = db.session.get(PaymentPlan, plan.id)
    assert plan.status == "broken" and plan.broken_on == today()
    assert db.session.get(Installment, late.id).status == "late"
    assert count(DunningAction) == 1
    told = db.session.scalars(select(Message).where(Message.event == "plan_broken")).all()
    assert [m.customer_id for m in told] == [customer.id]


def test_reminder_waits_until_just_after_the_preferred_payment_day():
    payday = day(2)
    customer = consumer(preferred_payment_day=payday.day)
    overdue(customer, 10)
    decision = decision_for(customer)
    assert decision.outcome == "postponed"
    assert decision.until == payday + timedelta(days=1)
    assert f"prefers to pay on day {payday.day}" in texts(decision.reasons)
    run(today())
    assert count(DunningAction) == 0
    assert decision_for(customer, payday + timedelta(days=1)).outcome == "remind"


def test_never_more_than_one_reminder_in_n_days():
    customer = consumer()
    overdue(customer, 10)
    later = overdue(customer, 5)  # reaches the first level in 2 days
    run(today())
    assert db.session.get(type(later), later.id).dunning_level == 0
    decision = decision_for(customer, day(2))
    assert decision.outcome == "postponed" and decision.until == day(7)
    assert "at most one every 7 days" in texts(decision.reasons)
    assert decision_for(customer, day(7)).outcome == "remind"


def test_optional_pre_due_notice():
    step = level("Belgian consumers", 0)
    step.active = True
    db.session.commit()
    customer = consumer()
    from tests.helpers import make_invoice

    soon = make_invoice(customer, due_in_days=3)
    by_debit = consumer(payment_method="direct_debit")
    make_invoice(by_debit, due_in_days=3)
    decision = decision_for(customer)
    assert decision.outcome == "remind" and decision.level.tone == "pre_due"
    assert decision_for(by_debit).outcome == "not_due"
    run(today())
    [message] = db.session.scalars(select(Message)).all()
    assert message.template.key == "dunning_pre_due" and soon.number in message.body_text
    db.session.expire_all()
    assert soon.dunning_level == 0 and soon.last_reminded_on == today()
    assert decision_for(customer, day(1)).outcome == "not_due"  # once only


def test_same_date_twice_creates_nothing_new():
    for n in range(3):
        overdue(consumer(), 10 + n)
    first = run(today())
    before = (count(DunningAction), count(Message))
    second = run(today())
    assert before == (count(DunningAction), count(Message)) == (3, 3)
    assert first.run_id == second.run_id
    assert second.counts["done"] == 3 and second.counts.get("remind", 0) == 0


def test_customer_with_nothing_to_send_to_is_not_marked_reminded():
    customer = make_customer_without_address()
    overdue(customer, 10)
    result = run(today())
    assert result.counts["no_address"] == 1
    assert count(DunningAction) == 0
    assert db.session.scalar(select(Customer).where(Customer.id == customer.id)) is not None


def make_customer_without_address():
    from tests.helpers import make_customer

    return make_customer(email=None, delivery_channel="paper")
