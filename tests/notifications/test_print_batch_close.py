"""Closing a print batch ("Mark as sent to the print shop") is one rule, close_batch: moot letters
are taken out first, the batch is dated once, and a batch already closed stays as it was."""
from __future__ import annotations

from sqlalchemy import select

from app.core.time import business_today
from app.dunning.models import DunningAction, DunningLevel, DunningPolicy, DunningRun
from app.extensions import db
from app.notifications.events import preview_context
from app.notifications.models import Message, PrintBatch
from app.notifications.outbox import queue_message
from app.notifications.print_batches import batch_files, close_batch
from app.payments.services import clean_payment, post_payment
from tests.helpers import csrf_for, make_customer, make_invoice


def _batch_with_a_paid_and_an_open_reminder():
    today = business_today()
    policy = DunningPolicy(name="BE consumers", segment="consumer", country="BE")
    level = DunningLevel(policy=policy, sequence=1, name="Friendly", days_after_due=7,
                         template_key="payment_received", channels="letter")
    run = DunningRun(run_date=today, status="done", counts={})
    db.session.add_all([policy, level, run])
    letters = []
    for name in ("Paid Meanwhile", "Still Late"):
        customer = make_customer(name=name, delivery_channel="paper",
                                 address_line1="Rue Haute 12", postal_code="1000",
                                 city="Bruxelles")
        invoice = make_invoice(customer, total="45.00", due_in_days=-20)
        db.session.add(DunningAction(run=run, run_date=today, customer=customer, level=level,
                                     invoice_ids=[invoice.id]))
        [letter] = queue_message(customer, event="dunning.friendly",
                                 template_key="payment_received",
                                 context=preview_context("payment_received", customer),
                                 idempotency_key=f"dunning:{today.isoformat()}:{customer.id}")
        db.session.commit()
        letters.append((customer, invoice, letter))
    (payer, paid, moot), (_late, _open, still_due) = letters
    post_payment(clean_payment({"customer_number": payer.number, "amount": "45.00",
                                "reference": paid.number, "received_on": today.isoformat()}))
    db.session.commit()
    return db.session.scalar(select(PrintBatch)), moot, still_due


def test_close_batch_withdraws_moot_letters_then_closes_once(defaults):
    batch, moot, still_due = _batch_with_a_paid_and_an_open_reminder()
    store, prefix = batch_files(batch)
    assert close_batch(batch) == 1
    db.session.commit()
    assert batch.status == "closed" and batch.closed_at is not None
    assert db.session.get(Message, moot.id).status == "withdrawn"
    assert not store.exists(f"{prefix}{moot.id:08d}.pdf")
    assert db.session.get(Message, still_due.id).print_batch_id == batch.id
    closed_at = batch.closed_at
    assert close_batch(batch) is None  # already at the print shop: nothing changes
    assert batch.closed_at == closed_at


def test_the_close_action_goes_through_close_batch(defaults, staff_client):
    batch, moot, still_due = _batch_with_a_paid_and_an_open_reminder()
    client = staff_client("AR clerk")
    response = client.post("/printbatchview/action_post", data={
        "action": "close", "rowid": [str(batch.id)], "csrf_token": csrf_for(client)})
    assert response.status_code == 302
    db.session.expire_all()
    batch = db.session.get(PrintBatch, batch.id)
    assert batch.status == "closed" and batch.closed_at is not None
    # The paid reminder did not go to the print shop with the batch.
    assert db.session.get(Message, moot.id).status == "withdrawn"
    assert db.session.get(Message, still_due.id).status == "sent"
    page = client.get("/printbatchview/list/").get_data(as_text=True)
    assert "taken out of batch" in page and "marked as sent to the print shop" in page
    closed_at = batch.closed_at
    client.post("/printbatchview/action_post", data={
        "action": "close", "rowid": [str(batch.id)], "csrf_token": csrf_for(client)})
    db.session.expire_all()
    assert db.session.get(PrintBatch, batch.id).closed_at == closed_at


def test_no_generic_edit_can_reopen_or_redate_a_batch(defaults, staff_client):
    batch, _moot, _still_due = _batch_with_a_paid_and_an_open_reminder()
    client = staff_client("Admin")
    response = client.post(f"/printbatchview/edit/{batch.id}", data={
        "status": "closed", "closed_at": "2001-01-01 00:00:00", "csrf_token": csrf_for(client)})
    assert response.status_code in (403, 404, 405)
    db.session.expire_all()
    batch = db.session.get(PrintBatch, batch.id)
    assert batch.status == "open" and batch.closed_at is None
