"""My work today: each queue counts what waits, and the home page shows the counts."""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from app.core.models import utcnow
from app.extensions import db
from app.insights.workqueues import work_counts
from app.notifications.models import Message
from app.payments.models import Payment
from app.requests.models import CustomerRequest, Installment, PaymentPlan
from tests.helpers import make_customer, make_staff_user

TODAY = date.today()


def _fill(app):
    customer = make_customer(name="Queue customer")
    other_clerk = make_staff_user(app, "Credit manager", "someone_else")
    db.session.add_all([
        # late, unassigned; due soon, unassigned; late but someone else's; far away
        CustomerRequest(customer=customer, kind="question", status="received",
                        sla_due_at=utcnow() - timedelta(hours=1)),
        CustomerRequest(customer=customer, kind="question", status="in_review",
                        sla_due_at=utcnow() + timedelta(hours=2)),
        CustomerRequest(customer=customer, kind="question", status="received",
                        sla_due_at=utcnow() - timedelta(hours=1), assignee_id=other_clerk.id),
        CustomerRequest(customer=customer, kind="question", status="received",
                        sla_due_at=utcnow() + timedelta(days=3)),
        Payment(customer=None, received_on=TODAY, amount=Decimal("10.00"), status="unmatched"),
        Message(customer=customer, channel="email", recipient="x@example.test", language="fr",
                event="reminder", body_text=".", idempotency_key="failed-1", status="failed"),
        Message(customer=customer, channel="email", recipient="x@example.test", language="fr",
                event="reminder", body_text=".", idempotency_key="sent-1", status="sent"),
    ])
    plan = PaymentPlan(customer=customer, status="active", total_amount=Decimal("100.00"),
                       installment_count=2, day_of_month=1, start_date=TODAY)
    plan.installments = [
        Installment(sequence=1, due_date=TODAY - timedelta(days=3), amount=Decimal("50.00"),
                    structured_reference="000000001212", status="due"),
        Installment(sequence=2, due_date=TODAY + timedelta(days=27), amount=Decimal("50.00"),
                    structured_reference="000000002323", status="due")]
    flagged = make_customer(name="Flagged")
    flagged.risk_flags = ["late_payer"]
    db.session.add(plan)
    db.session.commit()


def test_counts(app):
    _fill(app)
    counts = work_counts()
    assert counts["requests"] == 2
    assert counts["payments"] == 1
    assert counts["messages"] == 1
    assert counts["flagged"] == 1
    assert counts["plans"] == 1
    assert counts["statement_lines"] == 0


def test_home_page_shows_the_counts(app, staff_client):
    _fill(app)
    html = staff_client("AR clerk").get("/").get_data(as_text=True)
    assert 'id="my-work"' in html
    row = re.search(r'id="work-messages".*?<span class="badge">(\d+)</span>', html, re.DOTALL)
    assert row and row.group(1) == "1"
    page = staff_client("Read-only").get("/mywork/").get_data(as_text=True)
    assert "Queue customer" in page and 'id="queue-plans"' in page
