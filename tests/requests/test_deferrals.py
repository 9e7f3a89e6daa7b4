"""Deferral (promise to pay): every rule, staff approval and override, broken promises."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from app.core.validation import ValidationError
from app.dunning.defaults import install_defaults as install_dunning_defaults
from app.dunning.engine import evaluate
from app.extensions import db
from app.requests.deferrals import break_overdue_deferrals, request_deferral
from app.requests.models import CustomerRequest, Deferral, Installment, PaymentPlan
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


def test_within_the_rules_it_is_approved_at_once_and_reminders_wait():
    install_dunning_defaults()
    customer = _customer()
    late = make_invoice(customer, total="120.00", due_in_days=-20)
    other = make_invoice(customer, total="80.00", due_in_days=-10)
    outcome = request_deferral(customer, [late, other], TODAY + timedelta(days=14))
    db.session.commit()
    assert outcome.approved and outcome.refused_rules == []
    assert outcome.request.status == "approved" and outcome.request.kind == "deferral"
    assert sorted(d.invoice_id for d in outcome.deferrals) == sorted([late.id, other.id])
    assert all(d.status == "active" and d.new_due_date == TODAY + timedelta(days=14)
               for d in outcome.deferrals)
    assert outcome.deferrals[0].original_due_date == late.due_date
    assert events(customer).count("deferral_approved") == 2
    # The dunning engine leaves both invoices out until the promised date...
    [decision] = evaluate(TODAY, customer_ids=[customer.id]).decisions
    assert decision.outcome == "excluded"
    assert {i.status for i in decision.invoices} == {"excluded"}
    # ...and reminds them again after it, by itself.
    [later] = evaluate(TODAY + timedelta(days=15), customer_ids=[customer.id]).decisions
    assert later.outcome == "remind" and len(later.listed) == 2


def test_amount_above_the_maximum_goes_to_staff_with_the_rule_told():
    settings(deferral__max_amount="100.00")
    customer = _customer()
    invoice = make_invoice(customer, total="150.00", due_in_days=-5)
    outcome = request_deferral(customer, [invoice], TODAY + timedelta(days=10))
    db.session.commit()
    assert not outcome.approved and outcome.deferrals == []
    assert outcome.request.status == "received"
    assert outcome.refused_rules == [
        "A deferral is approved at once up to €100.00; yours is for €150.00."]
    assert outcome.request.referral_reason == outcome.refused_rules[0]
    assert _count(Deferral) == 0
    assert "request_received" in events(customer)


def test_too_many_days_goes_to_staff():
    settings(deferral__max_days=10)
    customer = _customer()
    invoice = make_invoice(customer, total="50.00", due_in_days=-5)
    ok = request_deferral(customer, [invoice], TODAY + timedelta(days=10))
    assert ok.approved
    other = make_invoice(customer, total="50.00", due_in_days=-5)
    refused = request_deferral(customer, [other], TODAY + timedelta(days=11))
    assert not refused.approved
    assert refused.refused_rules == ["A deferral is approved at once for at most 10 days."]
    # Counted from the due date when it is still ahead.
    upcoming = make_invoice(customer, total="50.00", due_in_days=20)
    assert request_deferral(customer, [upcoming], TODAY + timedelta(days=30)).approved


@pytest.mark.parametrize("status", ["legal_proceedings", "collection_agency", "insolvent"])
def test_never_at_once_for_customers_in_legal_proceedings_agency_or_insolvent(status):
    customer = _customer(legal_status=status)
    invoice = make_invoice(customer, total="50.00", due_in_days=-5)
    outcome = request_deferral(customer, [invoice], TODAY + timedelta(days=7))
    assert not outcome.approved and len(outcome.refused_rules) == 1
    assert _count(Deferral) == 0


def test_not_twice_for_the_same_invoice():
    customer = _customer()
    invoice = make_invoice(customer, total="50.00", due_in_days=-5)
    assert request_deferral(customer, [invoice], TODAY + timedelta(days=5)).approved
    db.session.commit()
    second = request_deferral(customer, [invoice], TODAY + timedelta(days=9))
    assert not second.approved
    assert second.refused_rules == [f"Invoice {invoice.number} has already been deferred once."]
    assert _count(Deferral) == 1


def test_refused_rules_are_recorded_in_the_customers_language():
    settings(deferral__max_amount="10.00")
    customer = make_customer(language="nl")
    invoice = make_invoice(customer, total="50.00", due_in_days=-5)
    with force_locale("en"):
        outcome = request_deferral(customer, [invoice], TODAY + timedelta(days=5))
    assert outcome.refused_rules[0].startswith("A deferral is approved at once")
    assert outcome.request.payload["refused_rules"] == [outcome.request.referral_reason]
    # Dutch text once the catalogue has it; never empty.
    assert outcome.request.referral_reason


@pytest.mark.parametrize("new_due, field", [
    (TODAY, "new_due_date"), (TODAY - timedelta(days=3), "new_due_date"),
    ("not a date", "new_due_date"), (TODAY + timedelta(days=400), "new_due_date"),
])
def test_bad_dates_are_refused_and_nothing_changes(new_due, field):
    customer = _customer()
    invoice = make_invoice(customer, total="50.00", due_in_days=-5)
    with pytest.raises(ValidationError) as caught:
        request_deferral(customer, [invoice], new_due)
    assert field in caught.value.errors
    db.session.rollback()
    assert _count(Deferral) == 0 and _count(CustomerRequest) == 0


def test_a_date_before_the_invoice_due_date_is_refused():
    customer = _customer()
    invoice = make_invoice(customer, total="50.00", due_in_days=20)
    with pytest.raises(ValidationError) as caught:
        request_deferral(customer, [invoice], TODAY + timedelta(days=10))
    assert "is due on" in caught.value.errors["new_due_date"][0]


def test_other_customers_paid_or_planned_invoices_are_refused():
    customer = _customer()
    stranger = make_invoice(_customer(), total="50.00", due_in_days=-5)
    with pytest.raises(ValidationError):
        request_deferral(customer, [stranger], TODAY + timedelta(days=5))
    with pytest.raises(ValidationError):
        request_deferral(customer, [], TODAY + timedelta(days=5))
    planned = make_invoice(customer, total="50.00", due_in_days=-5)
    db.session.add(PaymentPlan(customer=customer, status="active", total_amount=D(50),
                               installment_count=1, day_of_month=1, start_date=TODAY,
                               invoices=[planned]))
    db.session.commit()
    with pytest.raises(ValidationError) as caught:
        request_deferral(customer, [planned], TODAY + timedelta(days=5))
    assert "payment plan" in caught.value.errors["invoices"][0]
    db.session.rollback()
    assert _count(Deferral) == 0 and _count(CustomerRequest) == 0


def test_a_second_request_while_one_waits_is_refused():
    settings(deferral__max_amount="10.00")
    customer = _customer()
    invoice = make_invoice(customer, total="50.00", due_in_days=-5)
    assert not request_deferral(customer, [invoice], TODAY + timedelta(days=5)).approved
    db.session.commit()
    with pytest.raises(ValidationError):
        request_deferral(customer, [invoice], TODAY + timedelta(days=6))


def test_staff_approval_in_the_queue_creates_the_deferral(app):
    settings(deferral__max_amount="10.00")
    customer = _customer()
    invoice = make_invoice(customer, total="50.00", due_in_days=-5)
    outcome = request_deferral(customer, [invoice], TODAY + timedelta(days=5))
    db.session.commit()
    user = make_staff_user(app, "Admin")
    decide_request(outcome.request, user, True, "OK for us")
    db.session.commit()
    [deferral] = db.session.scalars(select(Deferral)).all()
    assert deferral.request_id == outcome.request.id and deferral.status == "active"
    assert deferral.new_due_date == TODAY + timedelta(days=5)
    # One decision, one message: staff wrote a note, so the request's answer carries it.
    assert events(customer).count("request_decided") == 1
    assert "deferral_approved" not in events(customer)


def test_staff_rejection_creates_nothing(app):
    settings(deferral__max_amount="10.00")
    customer = _customer()
    invoice = make_invoice(customer, total="50.00", due_in_days=-5)
    outcome = request_deferral(customer, [invoice], TODAY + timedelta(days=5))
    decide_request(outcome.request, make_staff_user(app, "Admin"), False, "No")
    db.session.commit()
    assert _count(Deferral) == 0 and outcome.request.status == "rejected"


def test_staff_override_bypasses_the_rules_and_records_who_and_why(app):
    customer = _customer(legal_status="legal_proceedings")
    invoice = make_invoice(customer, total="5000.00", due_in_days=-5)
    user = make_staff_user(app, "Admin")
    with pytest.raises(ValidationError):
        request_deferral(customer, [invoice], TODAY + timedelta(days=90), channel="staff",
                         user=user, override_reason="   ")
    outcome = request_deferral(customer, [invoice], TODAY + timedelta(days=90), channel="staff",
                               user=user, override_reason="Agreed with the lawyer")
    db.session.commit()
    assert outcome.approved and len(outcome.deferrals) == 1
    req = outcome.request
    assert req.channel == "staff" and req.decided_by_id == user.id
    assert req.decision_note == "Agreed with the lawyer"
    assert req.payload["override"]["reason"] == "Agreed with the lawyer"


def test_an_unpaid_promise_is_broken_and_the_customer_told_once():
    customer = _customer()
    invoice = make_invoice(customer, total="50.00", due_in_days=-5)
    paid = make_invoice(customer, total="30.00", due_in_days=-5)
    request_deferral(customer, [invoice, paid], TODAY + timedelta(days=3))
    db.session.commit()
    from app.payments.services import clean_payment, post_payment

    post_payment(clean_payment({"customer_number": customer.number, "amount": "30.00",
                                "received_on": TODAY.isoformat(),
                                "reference": paid.structured_reference}))
    db.session.commit()
    kept = db.session.scalar(select(Deferral).where(Deferral.invoice_id == paid.id))
    assert kept.status == "kept"
    assert break_overdue_deferrals(TODAY + timedelta(days=3)) == 0  # the date itself is fine
    assert break_overdue_deferrals(TODAY + timedelta(days=4)) == 1
    db.session.commit()
    assert break_overdue_deferrals(TODAY + timedelta(days=5)) == 0
    broken = db.session.scalar(select(Deferral).where(Deferral.invoice_id == invoice.id))
    assert broken.status == "broken"
    assert events(customer).count("promise_broken") == 1


def test_plan_instalment_fields_untouched_by_deferrals():
    # A deferral never creates plan rows (guards the shared counter use).
    customer = _customer()
    invoice = make_invoice(customer, total="50.00", due_in_days=-5)
    request_deferral(customer, [invoice], TODAY + timedelta(days=5))
    assert _count(Installment) == 0
