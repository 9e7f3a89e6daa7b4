"""Disputes: reminders stop for the disputed amount at once; uploads checked by content."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.validation import ValidationError
from app.dunning.defaults import install_defaults as install_dunning_defaults
from app.dunning.engine import evaluate
from app.extensions import db
from app.requests import attachments
from app.requests.disputes import open_dispute
from app.requests.models import Attachment, CustomerRequest, Dispute
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
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_partial_dispute_reminds_only_the_rest_at_once():
    install_dunning_defaults()
    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="100.00", due_in_days=-20)
    dispute = open_dispute(customer, invoice, "30.00", "wrong_amount", "Only 70 was agreed.",
                           [("quote.pdf", PDF)])
    db.session.commit()
    assert dispute.status == "open" and dispute.amount == D("30.00")
    assert invoice.disputed and invoice.disputed_amount == D("30.00")
    req = db.session.get(CustomerRequest, dispute.request_id)
    assert req.kind == "dispute" and req.status == "received" and req.message
    assert "request_received" in events(customer)
    [decision] = evaluate(TODAY, customer_ids=[customer.id]).decisions
    assert decision.amount_due == D("70.00")
    # Below the minimum, the rest is not reminded.
    settings_minimum = "80.00"
    from app.core.settings import set_setting

    set_setting("dunning.minimum_amount", settings_minimum)
    db.session.commit()
    [decision] = evaluate(TODAY, customer_ids=[customer.id]).decisions
    assert decision.outcome == "excluded"


def test_whole_dispute_stops_reminders_and_rejection_resumes_them(app):
    install_dunning_defaults()
    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="100.00", due_in_days=-20)
    dispute = open_dispute(customer, invoice, None, "not_received", "Never delivered.", [])
    db.session.commit()
    assert dispute.amount == D("100.00")
    [decision] = evaluate(TODAY, customer_ids=[customer.id]).decisions
    assert decision.outcome == "excluded"
    req = db.session.get(CustomerRequest, dispute.request_id)
    decide_request(req, make_staff_user(app, "Admin"), False, "Delivered on the 3rd.")
    db.session.commit()
    assert dispute.status == "rejected" and dispute.closed_at is not None
    assert not invoice.disputed and invoice.disputed_amount == 0
    [decision] = evaluate(TODAY, customer_ids=[customer.id]).decisions
    assert decision.outcome == "remind" and decision.amount_due == D("100.00")


def test_upheld_dispute_is_closed_in_the_customers_favour(app):
    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="100.00", due_in_days=-20)
    dispute = open_dispute(customer, invoice, "10", "quality", "Scratched.", [])
    decide_request(db.session.get(CustomerRequest, dispute.request_id),
                   make_staff_user(app, "Admin"), True, "Credit note follows.")
    db.session.commit()
    assert dispute.status == "upheld"


@pytest.mark.parametrize("amount, reason, text, field", [
    ("0", "quality", "x", "amount"), ("-5", "quality", "x", "amount"),
    ("100.01", "quality", "x", "amount"), ("abc", "quality", "x", "amount"),
    ("10", "", "x", "reason"), ("10", "bogus", "x", "reason"),
    ("10", "quality", "", "text"), ("10", "quality", "x" * 5001, "text"),
])
def test_bad_input_is_refused_and_nothing_is_stored(amount, reason, text, field):
    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="100.00", due_in_days=-20)
    with pytest.raises(ValidationError) as caught:
        open_dispute(customer, invoice, amount, reason, text, [("a.pdf", PDF)])
    assert field in caught.value.errors
    db.session.rollback()
    assert _count(Dispute) == 0 and _count(CustomerRequest) == 0 and _count(Attachment) == 0


def test_another_customers_invoice_is_refused():
    customer = make_customer(language="en")
    other = make_invoice(make_customer(), total="100.00", due_in_days=-20)
    with pytest.raises(ValidationError):
        open_dispute(customer, other, None, "quality", "x", [])


def test_cannot_dispute_more_than_what_is_left():
    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="100.00", due_in_days=-20)
    open_dispute(customer, invoice, "60", "quality", "x", [])
    with pytest.raises(ValidationError) as caught:
        open_dispute(customer, invoice, "50", "quality", "y", [])
    assert "€40.00" in caught.value.errors["amount"][0]
    assert open_dispute(customer, invoice, None, "quality", "z", []).amount == D("40.00")


# --- attachments --------------------------------------------------------------------------

def test_pdf_png_and_jpeg_are_stored_outside_the_web_root(app):
    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="100.00", due_in_days=-20)
    dispute = open_dispute(customer, invoice, None, "quality", "See photos.",
                           [("../../etc/passwd.pdf", PDF), ("photo.png", PNG),
                            ("photo.jpeg", JPEG)])
    db.session.commit()
    req = db.session.get(CustomerRequest, dispute.request_id)
    stored = {a.file_name: a for a in req.attachments}
    assert set(stored) == {"passwd.pdf", "photo.png", "photo.jpeg"}
    assert [stored[n].content_type for n in ("passwd.pdf", "photo.png", "photo.jpeg")] == \
        ["application/pdf", "image/png", "image/jpeg"]
    root = Path(app.config["UPLOAD_DIR"]).resolve()
    static = Path(app.static_folder).resolve() if app.static_folder else None
    for attachment in req.attachments:
        key = attachment.storage_path
        assert key.startswith(f"requests/{req.id}/") and "passwd" not in key
        path = (root / key).resolve()  # the embedded default keeps the store in UPLOAD_DIR
        assert root in path.parents and path.is_file()
        assert static is None or static not in path.parents
        assert attachments.content_of(attachment)[:4] in (PDF[:4], PNG[:4], JPEG[:4])


@pytest.mark.parametrize("name, data, message", [
    ("fake.pdf", b"MZ\x90\x00 not a pdf", "is not a PDF, PNG or JPEG file"),
    ("page.pdf", b"<html><script>alert(1)</script>", "is not a PDF, PNG or JPEG file"),
    ("empty.pdf", b"", "is empty"),
    ("big.pdf", PDF + b"0" * (5 * 1024 * 1024), "is larger than 5 MB"),
])
def test_wrong_type_and_oversized_files_are_refused(app, name, data, message):
    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="100.00", due_in_days=-20)
    before = sorted(Path(app.config["UPLOAD_DIR"]).rglob("*")) \
        if Path(app.config["UPLOAD_DIR"]).exists() else []
    with pytest.raises(ValidationError) as caught:
        open_dispute(customer, invoice, None, "quality", "x", [("ok.png", PNG), (name, data)])
    assert any(message in m for m in caught.value.errors["files"]), caught.value.errors
    db.session.rollback()
    assert _count(Dispute) == 0 and _count(Attachment) == 0
    after = sorted(Path(app.config["UPLOAD_DIR"]).rglob("*")) \
        if Path(app.config["UPLOAD_DIR"]).exists() else []
    assert after == before  # not even the good file was written


def test_size_and_count_limits_are_settings():
    settings(dispute__max_file_mb=1, dispute__max_files=2)
    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="100.00", due_in_days=-20)
    with pytest.raises(ValidationError) as caught:
        open_dispute(customer, invoice, None, "quality", "x",
                     [("big.pdf", PDF + b"0" * (1024 * 1024))])
    assert "larger than 1 MB" in caught.value.errors["files"][0]
    with pytest.raises(ValidationError) as caught:
        open_dispute(customer, invoice, None, "quality", "x", [("a.png", PNG)] * 3)
    assert "at most 2 files" in caught.value.errors["files"][0]
