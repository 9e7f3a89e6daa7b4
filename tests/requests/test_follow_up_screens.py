"""Follow-up screens (All requests, Disputes) save through the request rules: closing a dispute
dates it and frees the invoice's amount for reminders wherever it is closed, and a decided
request keeps who handled it, even against a forged POST to FAB's generic edit."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.validation import ValidationError
from app.extensions import db
from app.invoices.models import Invoice
from app.requests.disputes import open_dispute, set_dispute_status
from app.requests.models import CustomerRequest, Dispute
from app.requests.services import decide_request, open_request, update_handling
from tests.helpers import csrf_token, make_customer, make_invoice, make_staff_user
from tests.requests.self_service_support import D, same_day, templates  # noqa: F401

pytestmark = pytest.mark.usefixtures("templates", "same_day")


def _dispute(amount="40.00") -> Dispute:
    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="100.00", due_in_days=-20)
    dispute = open_dispute(customer, invoice, amount, "wrong_amount", "Only 60 was agreed.")
    db.session.commit()
    return dispute


# --- the services ------------------------------------------------------------------------------

def test_closing_a_dispute_dates_it_and_the_invoice_is_no_longer_disputed():
    dispute = _dispute()
    set_dispute_status(dispute, "rejected")
    db.session.commit()
    db.session.expire_all()
    dispute = db.session.get(Dispute, dispute.id)
    assert dispute.status == "rejected" and dispute.closed_at is not None
    invoice = db.session.get(Invoice, dispute.invoice_id)
    assert not invoice.disputed and invoice.disputed_amount == D("0.00")


def test_reopening_a_dispute_clears_its_closing_time_and_disputes_the_amount_again():
    dispute = _dispute()
    set_dispute_status(dispute, "upheld")
    db.session.commit()
    closed_at = dispute.closed_at
    set_dispute_status(dispute, "rejected")  # closed another way: it closed when it first did
    assert dispute.closed_at == closed_at
    set_dispute_status(dispute, "open")
    db.session.commit()
    db.session.expire_all()
    dispute = db.session.get(Dispute, dispute.id)
    assert dispute.status == "open" and dispute.closed_at is None
    invoice = db.session.get(Invoice, dispute.invoice_id)
    assert invoice.disputed and invoice.disputed_amount == D("40.00")


def test_an_unknown_dispute_status_is_refused():
    dispute = _dispute()
    with pytest.raises(ValidationError) as refused:
        set_dispute_status(dispute, "forgotten")
    assert "status" in refused.value.errors
    assert dispute.status == "open"


def test_a_decided_request_keeps_its_handler_and_due_time(app):
    customer = make_customer(language="en")
    clerk = make_staff_user(app, "AR clerk")
    other = make_staff_user(app, "Credit manager")
    req = open_request(customer, "question", channel="staff", subject="Why?", assignee=clerk)
    db.session.commit()
    assert req.assignee_id == clerk.id and req.status == "received"
    later = datetime.now(UTC) + timedelta(days=3)
    update_handling(req, other, later)
    assert req.assignee_id == other.id and req.sla_due_at == later
    decide_request(req, other, True, "Answered")
    db.session.commit()
    with pytest.raises(ValidationError) as refused:
        update_handling(req, clerk, later)
    assert "assignee" in refused.value.errors
    with pytest.raises(ValidationError):
        update_handling(req, other, later + timedelta(days=1))
    # The same values again (the form sent back unchanged, to the second) are no change.
    update_handling(req, other, later.replace(microsecond=0, tzinfo=None))


# --- the screens -------------------------------------------------------------------------------

def _edit(client, url: str, **values):
    page = client.get(url).get_data(as_text=True)
    return client.post(url, data={**values, "csrf_token": csrf_token(page)})


def test_closing_a_dispute_on_its_screen_goes_through_the_dispute_rules(staff_client):
    dispute = _dispute()
    client = staff_client("Credit manager")
    response = _edit(client, f"/disputeview/edit/{dispute.id}", status="rejected")
    assert response.status_code == 302
    db.session.expire_all()
    dispute = db.session.get(Dispute, dispute.id)
    assert dispute.status == "rejected" and dispute.closed_at is not None
    # What reminders leave out follows: the invoice is no longer disputed.
    assert not db.session.get(Invoice, dispute.invoice_id).disputed
    response = _edit(client, f"/disputeview/edit/{dispute.id}", status="open")
    db.session.expire_all()
    dispute = db.session.get(Dispute, dispute.id)
    assert dispute.status == "open" and dispute.closed_at is None
    assert db.session.get(Invoice, dispute.invoice_id).disputed_amount == D("40.00")


def test_a_forged_closing_time_or_status_changes_nothing(staff_client):
    dispute = _dispute()
    client = staff_client("Credit manager")
    response = _edit(client, f"/disputeview/edit/{dispute.id}", status="forgotten",
                     closed_at="2001-01-01 00:00:00")
    assert response.status_code == 200
    db.session.expire_all()
    dispute = db.session.get(Dispute, dispute.id)
    assert dispute.status == "open" and dispute.closed_at is None
    assert db.session.get(Invoice, dispute.invoice_id).disputed


def test_recording_a_request_on_screen_assigns_it_through_the_service(app, staff_client):
    customer = make_customer(language="en")
    clerk = make_staff_user(app, "AR clerk")
    client = staff_client("Credit manager")
    response = _edit(client, "/customerrequestview/add", customer=str(customer.id),
                     kind="question", channel="staff", subject="Invoice copy",
                     message="Please send it again", assignee=str(clerk.id))
    assert response.status_code == 302
    req = db.session.query(CustomerRequest).filter_by(customer_id=customer.id).one()
    assert req.assignee_id == clerk.id and req.status == "received"
    assert req.sla_due_at is not None  # the SLA from the settings, as on the portal


def test_a_forged_edit_cannot_reassign_a_decided_request(app, staff_client):
    customer = make_customer(language="en")
    clerk = make_staff_user(app, "AR clerk")
    manager = make_staff_user(app, "Credit manager")
    req = open_request(customer, "question", channel="staff", assignee=manager)
    db.session.commit()
    client = staff_client("Credit manager")
    url = f"/customerrequestview/edit/{req.id}"
    due = req.sla_due_at.strftime("%Y-%m-%d %H:%M:%S")
    assert _edit(client, url, assignee=str(clerk.id), sla_due_at=due).status_code == 302
    db.session.expire_all()
    assert db.session.get(CustomerRequest, req.id).assignee_id == clerk.id
    decide_request(db.session.get(CustomerRequest, req.id), manager, True, "Done")
    db.session.commit()
    response = _edit(client, url, assignee=str(manager.id), sla_due_at=due,
                     status="received")
    assert response.status_code == 200
    assert "This request has already been decided." in response.get_data(as_text=True)
    db.session.expire_all()
    req = db.session.get(CustomerRequest, req.id)
    assert req.assignee_id == clerk.id and req.status == "approved"


# --- payment plans -----------------------------------------------------------------------------

def _plan():
    from app.requests.models import PaymentPlan

    plan = PaymentPlan(customer=make_customer(), status="active", total_amount=D("300.00"),
                       installment_count=3, day_of_month=5, start_date=datetime.now(UTC).date())
    db.session.add(plan)
    db.session.commit()
    return plan


def test_a_plan_marked_broken_by_hand_gets_the_day_it_broke():
    from app.core.time import business_today
    from app.requests.plans import set_plan_status

    plan = _plan()
    set_plan_status(plan, "broken")
    assert plan.status == "broken" and plan.broken_on == business_today()
    set_plan_status(plan, "active")
    assert plan.status == "active" and plan.broken_on is None
    with pytest.raises(ValidationError):
        set_plan_status(plan, "paused")


def test_the_plan_screen_goes_through_the_plan_rules(staff_client):
    from app.core.time import business_today
    from app.requests.models import PaymentPlan

    plan = _plan()
    client = staff_client("Credit manager")
    response = _edit(client, f"/paymentplanview/edit/{plan.id}", status="broken",
                     broken_on="2001-01-01")
    assert response.status_code == 302
    db.session.expire_all()
    plan = db.session.get(PaymentPlan, plan.id)
    assert plan.status == "broken" and plan.broken_on == business_today()
