"""Payment plans: the rule table, the schedule, instalment references, staff decisions, and
plans kept (paid instalments count) or broken (reminders resume, customer told)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.core.validation import ValidationError
from app.dunning.defaults import install_defaults as install_dunning_defaults
from app.dunning.engine import evaluate
from app.extensions import db
from app.invoices.references import format_ogm, is_valid_ogm
from app.requests import self_service as ss
from app.requests.models import CustomerRequest, Installment, PaymentPlan
from app.requests.plans import (
    add_months,
    break_late_plans,
    check_promises,
    preview_plan,
    request_plan,
    schedule,
)
from app.requests.services import decide_request
from tests.helpers import make_customer, make_invoice, make_staff_user
from tests.requests.self_service_support import (  # noqa: F401
    D,
    events,
    same_day,
    settings,
    templates,
)

pytestmark = pytest.mark.usefixtures("templates", "same_day")
TODAY = date.today()


def _customer(**fields):
    return make_customer(language="en", **fields)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- the schedule -----------------------------------------------------------------------------

def test_schedule_is_monthly_on_the_chosen_day_with_cents_on_the_last():
    rows = schedule(D("100.00"), 3, 15, date(2026, 1, 20), 5)
    assert [r.due_date for r in rows] == [date(2026, 2, 15), date(2026, 3, 15), date(2026, 4, 15)]
    assert [r.amount for r in rows] == [D("33.33"), D("33.33"), D("33.34")]
    assert sum(r.amount for r in rows) == D("100.00")
    # The first instalment is at least N days away (here: the 25th is 5 days after the 20th).
    assert schedule(D("10"), 1, 25, date(2026, 1, 20), 5)[0].due_date == date(2026, 1, 25)
    assert schedule(D("10"), 1, 24, date(2026, 1, 20), 5)[0].due_date == date(2026, 2, 24)
    assert add_months(date(2026, 11, 28), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 2, 10), -12) == date(2025, 2, 10)


# --- the rule table ---------------------------------------------------------------------------

def test_below_the_minimum_only_a_single_payment():
    customer = _customer()
    invoice = make_invoice(customer, total="99.99", due_in_days=-5)
    with pytest.raises(ValidationError) as caught:
        request_plan(customer, [invoice], 2, 10)
    assert "single payment" in caught.value.errors["invoices"][0]
    db.session.rollback()
    assert _count(PaymentPlan) == 0 and _count(CustomerRequest) == 0


@pytest.mark.parametrize("total, count, approved, rule", [
    ("400.00", 3, True, None),                          # tier 1: up to 500, at most 3
    ("400.00", 4, False, "at most 3 instalments"),
    ("120.00", 3, False, "at least €50.00"),            # 40 a month < 50
    ("1500.00", 6, True, None),                         # tier 2: up to 2000, at most 6, >= 100
    ("1500.00", 7, False, "at most 6 instalments"),
    ("5000.00", 12, True, None),                        # tier 3: up to 5000, 12, >= 150
    ("5000.01", 12, False, "Plans above €5,000.00 are decided by our team."),
])
def test_the_plan_table(total, count, approved, rule):
    customer = _customer()
    invoice = make_invoice(customer, total=total, due_in_days=-5)
    outcome = request_plan(customer, [invoice], count, 10)
    db.session.commit()
    assert outcome.approved is approved
    if approved:
        assert outcome.plan.status == "active" and len(outcome.plan.installments) == count
        assert outcome.request.status == "approved"
    else:
        assert outcome.plan is None and outcome.request.status == "received"
        assert any(rule in text for text in outcome.refused_rules), outcome.refused_rules
        assert _count(PaymentPlan) == 0


def test_the_table_is_settings_staff_edit():
    settings(plan__single_payment_below="10.00", plan__tier1_up_to="50.00",
             plan__tier1_max_installments=2, plan__tier1_min_installment="5.00",
             plan__tier2_up_to="0", plan__tier3_up_to="0")
    single, tiers = ss.plan_tiers()
    assert single == D("10.00") and len(tiers) == 1
    customer = _customer()
    small = make_invoice(customer, total="40.00", due_in_days=-5)
    assert request_plan(customer, [small], 2, 3).approved
    big = make_invoice(_customer(), total="60.00", due_in_days=-5)
    outcome = request_plan(big.customer, [big], 2, 3)
    assert not outcome.approved
    assert outcome.refused_rules == ["Plans above €50.00 are decided by our team."]


def test_tiers_typed_out_of_order_are_sorted():
    settings(plan__tier1_up_to="5000.00", plan__tier3_up_to="500.00")
    _single, tiers = ss.plan_tiers()
    assert [t.up_to for t in tiers] == sorted(t.up_to for t in tiers)


@pytest.mark.parametrize("status", ["legal_proceedings", "collection_agency", "insolvent"])
def test_never_at_once_in_legal_proceedings(status):
    customer = _customer(legal_status=status)
    invoice = make_invoice(customer, total="300.00", due_in_days=-5)
    outcome = request_plan(customer, [invoice], 3, 10)
    assert not outcome.approved and outcome.refused_rules


def test_never_at_once_while_another_plan_is_active():
    customer = _customer()
    first = make_invoice(customer, total="300.00", due_in_days=-5)
    assert request_plan(customer, [first], 3, 10).approved
    db.session.commit()
    second = make_invoice(customer, total="300.00", due_in_days=-5)
    outcome = request_plan(customer, [second], 3, 10)
    assert outcome.refused_rules == ["You already have a payment plan that is running."]
    # The same invoice cannot be planned twice at all.
    with pytest.raises(ValidationError):
        preview_plan(customer, [first], 3, 10)


def test_never_at_once_within_12_months_of_a_broken_plan():
    customer = _customer()
    db.session.add(PaymentPlan(customer=customer, status="broken", total_amount=D(300),
                               installment_count=3, day_of_month=1, start_date=TODAY,
                               broken_on=TODAY - timedelta(days=300)))
    db.session.commit()
    invoice = make_invoice(customer, total="300.00", due_in_days=-5)
    outcome = request_plan(customer, [invoice], 3, 10)
    assert outcome.refused_rules == ["A payment plan was not kept in the last 12 months."]
    db.session.rollback()
    settings(plan__months_after_broken_plan=6)
    assert preview_plan(customer, [invoice], 3, 10).approved_at_once


@pytest.mark.parametrize("count, day, field", [(0, 10, "installment_count"),
                                               (25, 10, "installment_count"),
                                               ("x", 10, "installment_count"),
                                               (3, 29, "day_of_month"), (3, 0, "day_of_month")])
def test_bad_numbers_are_refused(count, day, field):
    customer = _customer()
    invoice = make_invoice(customer, total="300.00", due_in_days=-5)
    with pytest.raises(ValidationError) as caught:
        request_plan(customer, [invoice], count, day)
    assert field in caught.value.errors


def test_disputed_amount_is_left_out_of_the_plan():
    from app.requests.models import Dispute

    customer = _customer()
    invoice = make_invoice(customer, total="400.00", due_in_days=-5)
    db.session.add(Dispute(customer=customer, invoice=invoice, amount=D("100.00")))
    db.session.commit()
    assert preview_plan(customer, [invoice], 3, 10).total == D("300.00")


# --- an approved plan ---------------------------------------------------------------------

def test_approved_plan_has_its_own_references_and_pauses_reminders():
    install_dunning_defaults()
    customer = _customer()
    invoices = [make_invoice(customer, total="200.00", due_in_days=-30),
                make_invoice(customer, total="100.00", due_in_days=-20)]
    outcome = request_plan(customer, invoices, 3, 10)
    db.session.commit()
    plan = outcome.plan
    assert plan.total_amount == D("300.00") and plan.day_of_month == 10
    references = [i.structured_reference for i in plan.installments]
    assert len(set(references)) == 3 and all(is_valid_ogm(r) for r in references)
    assert not set(references) & {i.structured_reference for i in invoices}
    assert [i.due_date.day for i in plan.installments] == [10, 10, 10]
    assert events(customer).count("plan_approved") == 1
    # The next invoice still gets its own, different reference from the shared counter.
    later = make_invoice(customer, total="10.00", due_in_days=30)
    assert later.structured_reference not in references
    [decision] = evaluate(TODAY, customer_ids=[customer.id]).decisions
    assert {i.status for i in decision.invoices if i.invoice.id in
            {inv.id for inv in invoices}} == {"excluded"}


def test_a_paid_instalment_keeps_the_plan_and_an_unpaid_one_breaks_it():
    install_dunning_defaults()
    customer = _customer()
    invoice = make_invoice(customer, total="300.00", due_in_days=-40)
    plan = request_plan(customer, [invoice], 3, 10).plan
    db.session.commit()
    first, second = plan.installments[0], plan.installments[1]
    from app.payments.services import book_payment

    # What statement matching does with a transfer carrying the instalment's communication.
    book_payment(amount=D("100.00"), received_on=TODAY, customer_id=customer.id,
                 installments=[first], rule="reference",
                 communication=format_ogm(first.structured_reference))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Installment, first.id).status == "paid"
    late_days = 10  # dunning.plan_broken_after_days
    # Paid instalment long past its date: the plan stands.
    assert break_late_plans(first.due_date + timedelta(days=late_days + 5)) == 0
    # The second one unpaid N+1 days after its date: broken, reminders resume, customer told.
    broken_day = second.due_date + timedelta(days=late_days + 1)
    assert break_late_plans(second.due_date + timedelta(days=late_days)) == 0
    assert break_late_plans(broken_day) == 1
    db.session.commit()
    db.session.expire_all()
    plan = db.session.get(PaymentPlan, plan.id)
    assert plan.status == "broken" and plan.broken_on == broken_day
    assert db.session.get(Installment, second.id).status == "late"
    assert events(customer).count("plan_broken") == 1
    assert check_promises(broken_day + timedelta(days=1)) == {"deferrals_broken": 0,
                                                               "plans_broken": 0}
    assert events(customer).count("plan_broken") == 1
    [decision] = evaluate(broken_day, customer_ids=[customer.id]).decisions
    assert decision.outcome in ("remind", "waiting", "postponed")
    assert decision.listed and decision.listed[0].invoice.id == invoice.id


def test_staff_approval_creates_the_plan_and_override_records_why(app):
    customer = _customer()
    invoice = make_invoice(customer, total="9000.00", due_in_days=-5)
    outcome = request_plan(customer, [invoice], 18, 5)
    db.session.commit()
    assert not outcome.approved
    user = make_staff_user(app, "Admin")
    decide_request(outcome.request, user, True, "Fine")
    db.session.commit()
    plan = db.session.scalar(select(PaymentPlan))
    assert plan.request_id == outcome.request.id and len(plan.installments) == 18
    assert plan.approved_by_id == user.id
    other = _customer(legal_status="insolvent")
    small = make_invoice(other, total="50.00", due_in_days=-5)
    forced = request_plan(other, [small], 2, 5, channel="staff", user=user,
                          override_reason="Curator agreed")
    assert forced.approved and forced.request.payload["override"]["reason"] == "Curator agreed"


def test_a_payment_posted_with_an_instalments_communication_pays_that_instalment():
    """The API / manual entry path (post_payment), not only statement matching."""
    from app.payments.services import clean_payment, post_payment

    customer = _customer()
    invoice = make_invoice(customer, total="300.00", due_in_days=-40)
    plan = request_plan(customer, [invoice], 3, 10).plan
    db.session.commit()
    first = plan.installments[0]
    post_payment(clean_payment({"customer_number": customer.number, "amount": "100.00",
                                "received_on": TODAY.isoformat(),
                                "reference": format_ogm(first.structured_reference)}))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Installment, first.id).status == "paid"
    assert db.session.get(Installment, plan.installments[1].id).status == "due"
    assert invoice.open_amount == D("200.00")
