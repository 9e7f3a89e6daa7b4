"""The 360° page as staff see it: what it shows (language-independent: ids and data attributes),
the audit of staff looking at it, and plans and deferrals started on the customer's behalf."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.core.audit_models import AuditEvent
from app.customers.models import Mandate
from app.extensions import db
from app.requests.models import CustomerRequest, Deferral, PaymentPlan
from tests.backoffice.conftest import session_csrf
from tests.helpers import make_customer, make_invoice

TODAY = date.today()


@pytest.fixture(autouse=True)
def _message_templates(app, _clean_database):
    from app.notifications.defaults import install_defaults

    install_defaults()
    db.session.commit()


def _attr(html: str, element_id: str, name: str = "data-value") -> str:
    match = re.search(rf'id="{element_id}"[^>]*?{name}="([^"]*)"', html)
    assert match, f"no {name} on #{element_id}"
    return match.group(1)


def _post(app, client, path, data):
    return client.post(path, data={**data, "csrf_token": session_csrf(app, client)})


@pytest.fixture
def debtor():
    """A consumer with two overdue invoices and one not yet due."""
    customer = make_customer(name="Marie Peeters", kind="person", language="nl",
                             email="marie@example.test", phone="+32470555666",
                             contact_name="Marie Peeters", address_line1="Kerkstraat 7",
                             postal_code="9000", city="Gent")
    oldest = make_invoice(customer, total="400.00", due_in_days=-40,
                          issue_date=TODAY - timedelta(days=70))
    recent = make_invoice(customer, total="200.00", due_in_days=-10,
                          issue_date=TODAY - timedelta(days=40))
    future = make_invoice(customer, total="50.00", due_in_days=20)
    return customer, oldest, recent, future


# --- what the page shows ------------------------------------------------------------------------

def test_page_shows_overdue_oldest_debt_flags_and_legal_status(staff_client, debtor):
    customer, oldest, recent, future = debtor
    customer.risk_flags = ["late_payer", "returned_debit"]
    customer.legal_status = "collection_agency"
    db.session.commit()
    html = staff_client("Read-only").get(f"/customer360/{customer.id}").get_data(as_text=True)
    overdue = re.search(r'id="c360-overdue"[^>]*>([^<]+)<', html).group(1)
    assert "600" in overdue and _attr(html, "c360-overdue", "data-count") == "2"
    assert _attr(html, "c360-oldest", "data-days") == "40"
    assert _attr(html, "c360-oldest", "data-due") == oldest.due_date.isoformat()
    assert re.findall(r'class="label label-warning cd-risk-flag" data-flag="(\w+)"', html) == [
        "late_payer", "returned_debit"]
    assert _attr(html, "c360-legal") == "collection_agency"
    for invoice in (oldest, recent, future):
        assert f'value="{invoice.id}"' not in html  # read-only: no boxes to tick
        assert f"/invoiceview/show/{invoice.id}" in html


def test_page_without_debt_or_flags(staff_client):
    customer = make_customer(name="Fine", kind="person")
    make_invoice(customer, total="80.00", due_in_days=10)
    html = staff_client("Read-only").get(f"/customer360/{customer.id}").get_data(as_text=True)
    assert _attr(html, "c360-overdue", "data-count") == "0"
    assert _attr(html, "c360-oldest", "data-days") == "0"
    assert "cd-risk-flag" not in html and 'id="c360-legal"' not in html


def test_page_shows_preferences_mandate_payment_day_and_contacts(staff_client, debtor):
    customer = debtor[0]
    customer.delivery_channel, customer.sms_reminders = "paper", True
    customer.payment_method, customer.preferred_payment_day = "direct_debit", 25
    db.session.add(Mandate(customer=customer, reference="CD-MANDATE-0001", status="active",
                           signed_on=TODAY))
    db.session.commit()
    html = staff_client("Read-only").get(f"/customer360/{customer.id}").get_data(as_text=True)
    assert _attr(html, "c360-pref-language") == "nl"
    assert _attr(html, "c360-pref-channel") == "paper"
    assert _attr(html, "c360-pref-sms") == "on"
    assert _attr(html, "c360-pref-method") == "direct_debit"
    assert _attr(html, "c360-pref-method", "data-mandate") == "CD-MANDATE-0001"
    assert 'id="c360-no-mandate"' not in html
    assert _attr(html, "c360-pref-payment-day") == "25"
    contacts = html.split('id="c360-contacts"')[1].split("</table>")[0]
    def row(pattern: str) -> str:
        return re.search(pattern + r".*?</tr>", contacts, re.DOTALL).group(0)

    assert "marie@example.test" in row('id="c360-email"')
    assert "0470 55 56 66" in row('id="c360-phone"')  # stored E.164, read nationally
    assert "Marie Peeters" in row('class="cd-contact" data-role="billing"')
    assert "Kerkstraat 7" in row('class="cd-address"')


def test_direct_debit_without_a_mandate_is_pointed_out(staff_client):
    customer = make_customer(payment_method="direct_debit")
    html = staff_client("Read-only").get(f"/customer360/{customer.id}").get_data(as_text=True)
    assert _attr(html, "c360-pref-method", "data-mandate") == ""
    assert 'id="c360-no-mandate"' in html
    assert _attr(html, "c360-pref-payment-day") == ""
    assert _attr(html, "c360-pref-sms") == "off"


# --- staff looking at it is audited (GDPR) ------------------------------------------------------

def test_opening_the_page_writes_one_view_event_without_personal_values(staff_client, debtor):
    customer = debtor[0]
    client = staff_client("AR clerk")
    before = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    assert client.get(f"/customer360/{customer.id}").status_code == 200
    assert client.get("/customer360/999999").status_code == 404  # nothing seen, nothing logged
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.id > before)).all()
    views = [e for e in events if e.action == "view"]
    assert [(e.entity, e.entity_id, e.customer_id, e.actor_type, e.actor) for e in views] == [
        ("customer", str(customer.id), customer.id, "staff", "ar_clerk")]
    assert views[0].changed_fields == []
    stored = " ".join(str(getattr(views[0], c.key)) for c in AuditEvent.__table__.columns)
    for personal in ("Marie", "Peeters", "marie@example.test", "+32470555666", "Kerkstraat",
                     "Gent"):
        assert personal not in stored
    assert [e.action for e in events] == ["view"]  # looking changes nothing else


# --- plans and deferrals on the customer's behalf ------------------------------------------------

def _plan(app, client, customer, invoices, **data):
    return _post(app, client, f"/customer360/{customer.id}/plan",
                 {"invoice_ids": [str(i.id) for i in invoices], **data})


def _deferral(app, client, customer, invoices, **data):
    return _post(app, client, f"/customer360/{customer.id}/deferral",
                 {"invoice_ids": [str(i.id) for i in invoices], **data})


def _nothing_recorded(customer) -> None:
    db.session.expire_all()
    for model in (CustomerRequest, PaymentPlan, Deferral):
        assert db.session.scalar(select(func.count(model.id)).where(
            model.customer_id == customer.id)) == 0, model.__name__


def test_plan_within_the_rules_defaults_to_the_payment_day(app, staff_client, debtor):
    customer, oldest, recent, _future = debtor
    customer.preferred_payment_day = 25
    db.session.commit()
    client = staff_client("AR clerk")
    page = client.get(f"/customer360/{customer.id}").get_data(as_text=True)
    assert re.search(r'name="day_of_month" id="c360-day"[^>]*value="25"', page)
    response = _plan(app, client, customer, [oldest, recent], installment_count="3")
    assert response.status_code == 302
    db.session.expire_all()
    plan = db.session.scalar(select(PaymentPlan).where(PaymentPlan.customer_id == customer.id))
    assert (plan.status, plan.installment_count, plan.day_of_month) == ("active", 3, 25)
    assert str(plan.total_amount) == "600.00"
    assert {i.due_date.day for i in plan.installments} == {25}
    req = db.session.get(CustomerRequest, plan.request_id)
    assert (req.channel, req.status) == ("staff", "approved")
    assert "override" not in (req.payload or {})


def test_plan_outside_the_rules_is_refused_without_a_reason(app, staff_client, debtor):
    customer, oldest, recent, _future = debtor
    client = staff_client("Credit manager")
    response = _plan(app, client, customer, [oldest, recent], installment_count="12",
                     day_of_month="5", override_reason="   ")
    assert response.status_code == 400
    assert 'id="c360-errors"' in response.get_data(as_text=True)
    _nothing_recorded(customer)


def test_plan_outside_the_rules_with_a_reason_records_who_and_why(app, staff_client, debtor):
    customer, oldest, recent, _future = debtor
    client = staff_client("Credit manager")
    response = _plan(app, client, customer, [oldest, recent], installment_count="12",
                     day_of_month="5", override_reason="Lost his job, agreed by phone")
    assert response.status_code == 302
    db.session.expire_all()
    plan = db.session.scalar(select(PaymentPlan).where(PaymentPlan.customer_id == customer.id))
    assert (plan.status, plan.installment_count) == ("active", 12)
    req = db.session.get(CustomerRequest, plan.request_id)
    override = req.payload["override"]
    assert override["user"] == "credit_manager"
    assert override["reason"] == "Lost his job, agreed by phone"
    assert req.decision_note == "Lost his job, agreed by phone"
    assert req.decided_by_id == override["user_id"] is not None


def test_deferral_within_the_rules(app, staff_client, debtor):
    customer, _oldest, recent, _future = debtor
    new_due = TODAY + timedelta(days=10)
    response = _deferral(app, staff_client("AR clerk"), customer, [recent],
                         new_due_date=new_due.isoformat())
    assert response.status_code == 302
    db.session.expire_all()
    deferral = db.session.scalar(select(Deferral).where(Deferral.customer_id == customer.id))
    assert (deferral.invoice_id, deferral.new_due_date, deferral.status) == (
        recent.id, new_due, "active")
    assert "override" not in (db.session.get(CustomerRequest, deferral.request_id).payload or {})


def test_deferral_outside_the_rules_needs_a_reason(app, staff_client, debtor):
    customer, _oldest, recent, _future = debtor
    client = staff_client("AR clerk")
    too_far = (TODAY + timedelta(days=90)).isoformat()  # the rule allows 30 days
    refused = _deferral(app, client, customer, [recent], new_due_date=too_far)
    assert refused.status_code == 400
    _nothing_recorded(customer)
    allowed = _deferral(app, client, customer, [recent], new_due_date=too_far,
                        override_reason="Waiting for the insurance payout")
    assert allowed.status_code == 302
    db.session.expire_all()
    deferral = db.session.scalar(select(Deferral).where(Deferral.customer_id == customer.id))
    assert deferral.new_due_date.isoformat() == too_far
    override = db.session.get(CustomerRequest, deferral.request_id).payload["override"]
    assert (override["user"], override["reason"]) == ("ar_clerk",
                                                       "Waiting for the insurance payout")


@pytest.mark.parametrize("bad", [
    {"new_due_date": "someday"},
    {"new_due_date": (TODAY - timedelta(days=1)).isoformat()},
    {"new_due_date": (TODAY + timedelta(days=5)).isoformat(), "invoice_ids": ["x", "999999"]},
])
def test_bad_deferral_input_is_a_400_and_changes_nothing(app, staff_client, debtor, bad):
    customer, _oldest, recent, _future = debtor
    data = {"invoice_ids": [str(recent.id)], **bad}
    response = _post(app, staff_client("AR clerk"), f"/customer360/{customer.id}/deferral", data)
    assert response.status_code == 400
    _nothing_recorded(customer)


def test_another_customers_invoice_cannot_be_planned(app, staff_client, debtor):
    customer = debtor[0]
    other = make_customer(name="Other")
    theirs = make_invoice(other, total="900.00", due_in_days=-30,
                          issue_date=TODAY - timedelta(days=60))
    response = _plan(app, staff_client("AR clerk"), customer, [theirs], installment_count="3",
                     day_of_month="5")
    assert response.status_code == 400
    _nothing_recorded(customer)
    _nothing_recorded(other)


@pytest.mark.parametrize("action", ["plan", "deferral"])
def test_read_only_staff_cannot_start_plans_or_deferrals(app, staff_client, debtor, action):
    customer, oldest, _recent, _future = debtor
    data = {"invoice_ids": [str(oldest.id)], "installment_count": "3", "day_of_month": "5",
            "new_due_date": (TODAY + timedelta(days=10)).isoformat(),
            "override_reason": "because"}
    response = _post(app, staff_client("Read-only"), f"/customer360/{customer.id}/{action}",
                     data)
    assert response.status_code == 403
    _nothing_recorded(customer)
