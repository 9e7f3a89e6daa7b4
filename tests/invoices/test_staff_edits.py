"""What staff change on an invoice's or credit note's own screen goes through the invoice
services (edit_invoice, set_reminder_block, set_disputed, edit_credit_note): a reminder block
needs its reason and records who set it, whichever screen sets it, and a forged POST to FAB's
generic edit cannot set the flags around those rules."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from app.core.time import business_today
from app.core.validation import ValidationError
from app.extensions import db
from app.invoices.models import CreditNote, Invoice
from app.invoices.services import set_disputed, set_reminder_block
from app.payments.outgoing.adjustments import (
    approve_credit_note,
    edit_credit_note,
    propose_credit_note,
)
from tests.helpers import csrf_for, make_customer, make_invoice, make_staff_user

# --- the services ------------------------------------------------------------------------------

def test_a_reminder_block_needs_a_reason_and_records_who_and_when():
    invoice = make_invoice(make_customer())
    with pytest.raises(ValidationError) as refused:
        set_reminder_block(invoice, True, "  ", "clerk")
    assert "reason" in refused.value.errors and not invoice.dunning_blocked
    set_reminder_block(invoice, True, " Waiting  for the ERP ", "clerk")
    assert invoice.dunning_blocked and invoice.dunning_block_reason == "Waiting for the ERP"
    assert (invoice.dunning_blocked_by, invoice.dunning_blocked_on) == ("clerk", business_today())
    set_reminder_block(invoice, True, "Waiting for the ERP", "someone else")  # no change
    assert invoice.dunning_blocked_by == "clerk"
    set_reminder_block(invoice, False, "Waiting for the ERP", "manager")
    assert not invoice.dunning_blocked
    assert (invoice.dunning_block_reason, invoice.dunning_blocked_by,
            invoice.dunning_blocked_on) == (None, None, None)


def test_the_disputed_flag_follows_open_disputes():
    invoice = make_invoice(make_customer())
    set_disputed(invoice, True)
    assert invoice.disputed
    set_disputed(invoice, False)
    assert not invoice.disputed
    invoice.disputed, invoice.disputed_amount = True, Decimal("30.00")  # an open dispute's
    with pytest.raises(ValidationError) as refused:
        set_disputed(invoice, False)
    assert "disputed" in refused.value.errors and invoice.disputed


def test_a_credit_note_keeps_its_reason(app):
    customer = make_customer()
    manager = make_staff_user(app, "Credit manager")
    note = propose_credit_note(customer, "20.00", "Broken bottle", manager)
    db.session.commit()
    with pytest.raises(ValidationError) as refused:
        edit_credit_note(note, date(2025, 1, 2), "  ")
    assert "reason" in refused.value.errors
    edit_credit_note(note, date(2025, 1, 2), "Two broken bottles")
    assert (note.issue_date, note.reason) == (date(2025, 1, 2), "Two broken bottles")


# --- the screens -------------------------------------------------------------------------------

def _edit_form(client, invoice: Invoice, **values) -> dict:
    form = {"customer": str(invoice.customer_id), "issue_date": invoice.issue_date.isoformat(),
            "due_date": invoice.due_date.isoformat(), "description": "",
            "structured_reference": invoice.structured_reference,
            "dunning_block_reason": "", "csrf_token": csrf_for(client)}
    form.update(values)
    return form


def test_blocking_reminders_on_the_invoice_form_needs_a_reason(staff_client):
    invoice = make_invoice(make_customer())
    client = staff_client("AR clerk")
    response = client.post(f"/invoiceview/edit/{invoice.id}",
                           data=_edit_form(client, invoice, dunning_blocked="y"))
    assert response.status_code == 200
    assert "Say why reminders stop for this invoice." in response.get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.get(Invoice, invoice.id).dunning_blocked


def test_the_invoice_form_records_who_blocked_reminders_not_a_forged_field(staff_client):
    invoice = make_invoice(make_customer())
    client = staff_client("AR clerk")
    response = client.post(f"/invoiceview/edit/{invoice.id}", data=_edit_form(
        client, invoice, dunning_blocked="y", dunning_block_reason="Customer in hospital",
        dunning_blocked_by="the director", dunning_blocked_on="2001-01-01"))
    assert response.status_code == 302
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.dunning_blocked and invoice.dunning_block_reason == "Customer in hospital"
    assert invoice.dunning_blocked_by == "ar_clerk"  # the signed-in user (tests/helpers.py)
    assert invoice.dunning_blocked_on == business_today()
    # Unticked: reminders resume and the exclusion's bookkeeping goes with it.
    response = client.post(f"/invoiceview/edit/{invoice.id}", data=_edit_form(
        client, invoice, dunning_block_reason="Customer in hospital"))
    assert response.status_code == 302
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert not invoice.dunning_blocked
    assert (invoice.dunning_block_reason, invoice.dunning_blocked_by) == (None, None)


def test_unticking_disputed_while_a_dispute_is_open_is_refused(staff_client):
    invoice = make_invoice(make_customer())
    invoice.disputed, invoice.disputed_amount = True, Decimal("30.00")
    db.session.commit()
    client = staff_client("Credit manager")
    response = client.post(f"/invoiceview/edit/{invoice.id}",
                           data=_edit_form(client, invoice))  # "disputed" not sent: unticked
    assert response.status_code == 200
    assert "Disputes are open on this invoice" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).disputed


def test_a_credit_note_edit_without_a_reason_is_refused(app, staff_client):
    customer = make_customer()
    manager = make_staff_user(app, "Credit manager")
    note = propose_credit_note(customer, "20.00", "Broken bottle", manager)
    approve_credit_note(note, manager)
    db.session.commit()
    client = staff_client("Credit manager")
    response = client.post(f"/creditnoteview/edit/{note.id}", data={
        "issue_date": note.issue_date.isoformat(), "reason": " ",
        "csrf_token": csrf_for(client)})
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(CreditNote, note.id).reason == "Broken bottle"
    response = client.post(f"/creditnoteview/edit/{note.id}", data={
        "issue_date": "2025-01-02", "reason": "Two broken bottles",
        "csrf_token": csrf_for(client)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(CreditNote, note.id).reason == "Two broken bottles"


def test_issue_credit_note_approves_within_the_limit_only(app):
    from app.core.settings import set_setting
    from app.payments.outgoing.adjustments import issue_credit_note

    set_setting("approvals.credit_note.ar_clerk_max", "100")
    db.session.commit()
    customer = make_customer()
    clerk = make_staff_user(app, "AR clerk")
    small, approved = issue_credit_note(customer, "40.00", "Broken bottle", clerk)
    assert approved and small.status == "open"
    large, approved = issue_credit_note(customer, "400.00", "Broken pallet", clerk)
    assert not approved and large.status == "proposed"


def test_the_add_screen_issues_through_the_limit(staff_client):
    from app.core.settings import set_setting

    set_setting("approvals.credit_note.ar_clerk_max", "100")
    db.session.commit()
    customer = make_customer()
    client = staff_client("AR clerk")
    response = client.post("/creditnoteview/add", data={
        "customer": str(customer.id), "issue_date": "2025-01-02", "amount": "400,00",
        "reason": "Broken pallet", "csrf_token": csrf_for(client)}, follow_redirects=True)
    assert "above your approval limit" in response.get_data(as_text=True)
    note = db.session.query(CreditNote).filter_by(customer_id=customer.id).one()
    assert note.status == "proposed" and note.amount == Decimal("400.00")
