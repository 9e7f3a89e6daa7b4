"""The 360° page: figures, every timeline source, and what staff record from it."""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core.models import utcnow
from app.core.portal_access import PortalAccess
from app.customers.models import Customer, CustomerNote
from app.customers.timeline import customer_timeline
from app.extensions import db
from app.notifications.models import Message
from app.payments.services import clean_payment, post_payment
from app.requests.models import CustomerRequest, Deferral, Dispute, PaymentPlan
from tests.backoffice.conftest import session_csrf
from tests.helpers import make_customer, make_invoice

TODAY = date.today()


@pytest.fixture
def story():
    """A customer with one of every kind of event."""
    customer = make_customer(name="Brasserie Dupont", phone="+32470111222",
                             address_line1="Rue Haute 1", postal_code="1000", city="Bruxelles")
    old = make_invoice(customer, total="500.00", due_in_days=-45,
                       issue_date=TODAY - timedelta(days=75))
    old.disputed, old.dunning_blocked = True, True
    paid = make_invoice(customer, total="80.00", due_in_days=-5)
    post_payment(clean_payment({"customer_number": customer.number, "reference": paid.number,
                                "amount": "80.00", "received_on": TODAY.isoformat()}))
    db.session.add_all([
        Message(customer=customer, channel="email", recipient="x@example.test", language="fr",
                event="reminder", subject="Rappel facture", body_text="...",
                idempotency_key="m-ok", status="sent"),
        Message(customer=customer, channel="sms", recipient="+32470111222", language="fr",
                event="reminder", body_text="...", idempotency_key="m-failed", status="failed",
                error="number unreachable"),
        CustomerRequest(customer=customer, kind="question", status="approved", subject="Help?",
                        decided_at=utcnow(), decision_note="Answered by phone"),
        Dispute(customer=customer, invoice=old, amount=Decimal("100.00"), reason="quality"),
        PaymentPlan(customer=customer, status="broken", total_amount=Decimal("300.00"),
                    installment_count=3, day_of_month=5, start_date=TODAY, broken_on=TODAY),
        Deferral(customer=customer, invoice=old, original_due_date=old.due_date,
                 new_due_date=TODAY, status="kept"),
        CustomerNote(customer_id=customer.id, kind="note", text="Prefers calls after 17h",
                     user_name="clerk"),
        PortalAccess(customer_id=customer.id, kind="magic_link", token_hash="h" * 64,
                     expires_at=utcnow(), used_at=utcnow() - timedelta(hours=1), ip="10.0.0.7"),
    ])
    db.session.commit()
    return customer, old


def test_timeline_merges_every_source_newest_first(story):
    customer, _old = story
    page = customer_timeline(customer.id, limit=100)
    kinds = {e.kind for e in page.events}
    assert {"invoice", "payment", "message", "request", "decision", "dispute", "plan",
            "deferral", "note", "login"} <= kinds
    dates = [e.at for e in page.events]
    assert dates == sorted(dates, reverse=True)
    failed = next(e for e in page.events if e.kind == "message" and e.tone == "danger")
    assert "number unreachable" in failed.detail
    assert any(e.extra.get("broken") for e in page.events if e.kind == "plan")
    assert any(e.title == "Promise kept" for e in page.events if e.kind == "deferral")


def test_timeline_pages(story):
    customer, _old = story
    first = customer_timeline(customer.id, limit=3)
    second = customer_timeline(customer.id, limit=3, offset=3)
    assert len(first.events) == 3 and first.has_more
    assert not {id(e) for e in first.events} & {id(e) for e in second.events}
    everything = customer_timeline(customer.id, limit=500).events
    assert [e.title for e in everything[:6]] == [e.title for e in first.events + second.events]


def test_360_page_shows_figures_and_each_source(staff_client, story):
    customer, old = story
    html = staff_client("Read-only").get(f"/customer360/{customer.id}").get_data(as_text=True)
    assert "Brasserie Dupont" in html
    balance = re.search(r'id="c360-balance">([^<]+)<', html).group(1)
    assert "500" in balance
    assert old.number in html  # open invoice, with its block labels
    assert "Disputed" in html and "Reminders blocked" in html
    for text in ("Payment of", "Rappel facture", "number unreachable", "Request #",
                 "disputed", "Payment plan broken", "Promise kept", "Prefers calls after 17h",
                 "Signed in to the portal"):
        assert text in html, text
    assert 'id="c360-actions"' not in html  # read-only: no forms


def test_unknown_customer_is_404(staff_client):
    assert staff_client("Admin").get("/customer360/999999").status_code == 404


def _post(app, client, path, data):
    return client.post(path, data={**data, "csrf_token": session_csrf(app, client)})


def test_note_and_call_are_recorded_escaped(app, staff_client, story):
    customer, _old = story
    client = staff_client("AR clerk")
    response = _post(app, client, f"/customer360/{customer.id}/note",
                     {"text": "<script>alert(1)</script> owes us a call"})
    assert response.status_code == 302
    response = _post(app, client, f"/customer360/{customer.id}/call",
                     {"call_direction": "outbound", "call_outcome": "promise",
                      "text": "Will pay Friday"})
    assert response.status_code == 302
    notes = db.session.scalars(select(CustomerNote).where(
        CustomerNote.customer_id == customer.id).order_by(CustomerNote.id)).all()
    assert [n.kind for n in notes][-2:] == ["note", "call"]
    assert notes[-1].call_outcome == "promise" and notes[-1].user_name == "ar_clerk"
    html = client.get(f"/customer360/{customer.id}").get_data(as_text=True)
    assert "Will pay Friday" in html and "Promised to pay" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_bad_input_changes_nothing(app, staff_client, story):
    customer, _old = story
    client = staff_client("Credit manager")
    before = db.session.scalar(select(func.count(CustomerNote.id)))
    response = _post(app, client, f"/customer360/{customer.id}/note", {"text": "  "})
    assert response.status_code == 400 and "This field is required." in response.get_data(
        as_text=True)
    response = _post(app, client, f"/customer360/{customer.id}/pause",
                     {"reason": "holiday", "paused_until": "yesterday"})
    assert response.status_code == 400
    response = _post(app, client, f"/customer360/{customer.id}/pause",
                     {"reason": "holiday",
                      "paused_until": (TODAY + timedelta(days=400)).isoformat()})
    assert response.status_code == 400 and "at most 90 days" in response.get_data(as_text=True)
    response = client.post(f"/customer360/{customer.id}/note", data={"text": "no token"})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.scalar(select(func.count(CustomerNote.id))) == before
    assert db.session.get(Customer, customer.id).dunning_paused_until is None


@pytest.mark.parametrize("role,allowed", [("Admin", True), ("Credit manager", True),
                                          ("AR clerk", True), ("Compliance officer", False),
                                          ("Read-only", False)])
def test_who_may_write(app, staff_client, story, role, allowed):
    customer, _old = story
    client = staff_client(role)
    assert client.get(f"/customer360/{customer.id}").status_code == 200
    response = _post(app, client, f"/customer360/{customer.id}/note", {"text": "hello"})
    assert response.status_code == (302 if allowed else 403)
    count = db.session.scalar(select(func.count(CustomerNote.id)).where(
        CustomerNote.text == "hello"))
    assert count == (1 if allowed else 0)


def test_pause_is_on_the_timeline_and_stops_the_dunning_run(app, staff_client):
    from app.dunning.defaults import install_defaults
    from app.dunning.runs import run
    from app.notifications.defaults import install_defaults as install_templates

    install_templates()
    install_defaults()
    address = {"address_line1": "Rue Haute 1", "postal_code": "1000", "city": "Bruxelles"}
    paused = make_customer(name="Paused", kind="person", **address)
    other = make_customer(name="Not paused", kind="person", **address)
    for customer in (paused, other):
        make_invoice(customer, total="100.00", due_in_days=-30,
                     issue_date=TODAY - timedelta(days=60))
    client = staff_client("AR clerk")
    until = TODAY + timedelta(days=14)
    response = _post(app, client, f"/customer360/{paused.id}/pause",
                     {"reason": "Bereavement in the family", "paused_until": until.isoformat()})
    assert response.status_code == 302
    db.session.expire_all()
    customer = db.session.get(Customer, paused.id)
    assert customer.dunning_paused_until == until
    assert customer.dunning_pause_reason == "Bereavement in the family"
    html = client.get(f"/customer360/{paused.id}").get_data(as_text=True)
    assert "Bereavement in the family" in html and 'id="c360-paused"' in html
    run(TODAY, triggered_by="test")
    reminded = set(db.session.scalars(select(Message.customer_id).where(
        Message.event.like("%remind%") | Message.event.like("dunning%"))))
    assert other.id in reminded
    assert paused.id not in reminded


def test_customer_list_links_to_360(staff_client):
    customer = make_customer(name="Linked")
    html = staff_client("Read-only").get("/customerview/list/").get_data(as_text=True)
    assert "/customer360/search?q=" + customer.number in html
