"""The portal dashboard once a payment plan runs (issue 20 #6): "Next due date" is the next
instalment, the overdue figure agrees with the statement's aging, and nothing the customer
already has (a plan, a direct debit mandate) is offered again."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask_babel import refresh

from app.accounts import overview
from app.accounts import statement as account_statement
from app.core.time import business_today
from app.customers.models import Mandate
from app.extensions import db
from app.requests.models import Installment, PaymentPlan
from app.selfservice.risk import proposals_for
from tests.helpers import make_customer, make_invoice


def _customer_with_a_plan():
    today = business_today()
    customer = make_customer(kind="person", email="plan@example.test", language="en")
    planned = make_invoice(customer, total="900.00", due_in_days=-40,
                           issue_date=today - timedelta(days=70))
    late = make_invoice(customer, total="100.00", due_in_days=-20,
                        issue_date=today - timedelta(days=50))
    make_invoice(customer, total="200.00", due_in_days=30)
    plan = PaymentPlan(customer=customer, status="active", total_amount=Decimal("900.00"),
                       installment_count=3, day_of_month=5, start_date=today + timedelta(days=10),
                       invoices=[planned])
    for n in range(3):
        plan.installments.append(Installment(
            sequence=n + 1, due_date=today + timedelta(days=10 + 30 * n),
            amount=Decimal("300.00"), paid_amount=Decimal("0.00"),
            structured_reference=f"90000000{n:02d}97"[:12], status="due"))
    db.session.add(plan)
    db.session.commit()
    return customer, plan, late


def test_dashboard_after_a_plan(app, portal_client):
    customer, plan, _late = _customer_with_a_plan()
    board = overview.dashboard(customer)
    first = plan.installments[0]
    assert board.next_is_installment and board.next_installment.id == first.id
    assert board.installment_left == Decimal("300.00")
    # Overdue: the late invoice outside the plan only, as the statement's aging says.
    assert board.overdue_amount == Decimal("100.00")
    statement = account_statement.statement(customer)
    overdue_in_aging = sum(amount for key, _label, amount in statement.aging if key != "current")
    assert overdue_in_aging == board.overdue_amount
    assert statement.aging_total == Decimal("1200.00")

    client = portal_client(customer)
    refresh()
    html = client.get("/portal/?lang=en").get_data(as_text=True)
    figure = html[html.index('id="figure-next-due"'):]
    figure = figure[:figure.index("</div>")]
    assert "Instalment 1 of your payment plan" in figure
    assert "€300.00" in figure
    assert "Pay in instalments" not in html  # the plan is there already


def test_no_plan_or_direct_debit_offered_to_a_customer_who_has_them(app):
    customer, _plan, _late = _customer_with_a_plan()
    customer.risk_flags = ["late_payer"]
    db.session.add(Mandate(customer=customer, reference="MANDATE-PLAN-1", status="active",
                           signed_on=business_today()))
    db.session.commit()
    offered = proposals_for(customer)
    assert "plan" not in offered and "direct_debit" not in offered
    other = make_customer(kind="person")
    make_invoice(other, total="50.00", due_in_days=-40)
    assert {"plan", "direct_debit"} <= set(proposals_for(other))
