"""A letter printed while the file store is down waits in the outbox and is printed when the
store is back: in no batch meanwhile, then in the batch once."""
from __future__ import annotations

import io
import zipfile
from datetime import timedelta

from sqlalchemy import select

from app.core.models import utcnow
from app.core.storage import EXTENSION_KEY, from_url, storage
from app.extensions import db
from app.notifications.events import preview_context
from app.notifications.jobs import deliver_message
from app.notifications.models import Message, PrintBatch
from app.notifications.outbox import queue_message
from app.notifications.print_batches import batch_zip
from tests.helpers import make_customer


def test_a_letter_waits_while_the_store_is_down_and_is_printed_once_it_is_back(
        app, tmp_path, monkeypatch):
    from app.notifications.defaults import install_defaults

    install_defaults()
    customer = make_customer(name="Marc Peeters", delivery_channel="paper",
                             address_line1="Kerkstraat 1", postal_code="2000", city="Antwerpen")
    blocker = tmp_path / "unmounted"
    blocker.write_text("not a folder: the share is not mounted")
    monkeypatch.setitem(app.extensions, EXTENSION_KEY, from_url(f"file://{blocker}"))

    [letter] = queue_message(customer, event="payment_received", template_key="payment_received",
                             context=preview_context("payment_received", customer),
                             idempotency_key="letter-store-down")
    db.session.commit()
    db.session.expire_all()
    letter = db.session.get(Message, letter.id)
    assert letter.status == "queued" and "file store put" in letter.error
    assert letter.next_attempt_at is not None  # retried later, with back-off
    for batch in db.session.scalars(select(PrintBatch)):  # an open batch may exist, empty
        assert batch.messages == []

    # The share is back, and the retry is due.
    monkeypatch.setitem(app.extensions, EXTENSION_KEY, from_url(f"file://{tmp_path / 'files'}"))
    letter.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert deliver_message(letter.id) == "sent"
    db.session.expire_all()
    batch = db.session.scalar(select(PrintBatch))
    assert db.session.get(Message, letter.id).print_batch_id == batch.id
    assert storage().exists(f"{batch.folder}/{letter.id:08d}.pdf")
    names = zipfile.ZipFile(io.BytesIO(batch_zip(batch))).namelist()
    assert names.count(f"{letter.id:08d}.pdf") == 1
