"""The back office: upload a statement, the cash screen, the queue (manual match, one-click
accept, undo), with CSRF, as the roles that may."""
from __future__ import annotations

import io
import re
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from app.core.audit_models import AuditEvent
from app.extensions import db
from app.payments.incoming.models import StatementLine
from app.payments.models import Allocation
from tests.backoffice.conftest import session_csrf
from tests.helpers import csrf_token
from tests.payments.statements.builders import Entry, Tx, camt053
from tests.payments.statements.conftest import fresh, state


@pytest.fixture
def clerk(staff_client):
    return staff_client("AR clerk")


def _upload(client, data: bytes, name: str = "statement.xml", token: str | None = None):
    page = client.get("/statements/import")
    assert page.status_code == 200
    return client.post("/statements/import", content_type="multipart/form-data", data={
        "csrf_token": token if token is not None else csrf_token(page.get_data(as_text=True)),
        "file": (io.BytesIO(data), name)})


def _statement(invoices):
    return camt053([
        Entry("121.00", ref="1", txs=[Tx(strd=[(invoices[0].structured_reference, "SCOR",
                                                 "BBA")], iban=None)]),
        Entry("20.00", ref="2", txs=[Tx(ustrd=[f"acompte {invoices[1].number}"], iban=None)]),
        Entry("33.00", ref="3", txs=[Tx(ustrd=["?"], name="Unknown payer", iban=None)]),
    ])


def _cell(html: str, row_id: str) -> tuple[int, str]:
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.DOTALL).group(1)
    number = re.search(r'class="text-right cd-count">(\d+)<', row).group(1)
    amount = re.search(r'class="text-right cd-amount">([^<]+)<', row).group(1)
    return int(number), amount.strip()


def test_upload_shows_the_result_and_books(clerk, invoices):
    response = _upload(clerk, _statement(invoices), "../../etc/camt.xml")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="import-done"' in html
    assert _cell(html, "count-matched") == (1, "€121.00")
    assert _cell(html, "count-suggested") == (1, "€20.00")
    assert _cell(html, "count-unmatched") == (1, "€33.00")
    assert fresh(invoices[0]).status == "paid"
    assert "camt.xml (camt.053.001.08)" in html  # only the file's own name is kept


def test_upload_without_csrf_is_refused_and_changes_nothing(clerk, invoices):
    before = state()
    response = _upload(clerk, _statement(invoices), token="forged")
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert state() == before


def test_upload_of_a_refused_file_says_why(clerk):
    response = _upload(clerk, b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">'
                              b"<BkToCstmrDbtCdtNtfctn/></Document>", "notif.xml")
    assert response.status_code == 422
    assert "camt.054.001.08 (debit/credit notification)" in response.get_data(as_text=True)
    empty = _upload(clerk, b"")
    assert empty.status_code == 422 and "The file is empty" in empty.get_data(as_text=True)
    page = clerk.get("/statements/import").get_data(as_text=True)
    none = clerk.post("/statements/import", data={"csrf_token": csrf_token(page)})
    assert none.status_code == 400 and "Choose a statement file" in none.get_data(as_text=True)


def test_cash_screen_counts(clerk, invoices):
    _upload(clerk, _statement(invoices))
    html = clerk.get("/cash/").get_data(as_text=True)
    assert _cell(html, "day-matched") == (1, "€121.00")
    assert _cell(html, "day-suggested") == (1, "€20.00")
    assert _cell(html, "day-unmatched") == (1, "€33.00")
    assert _cell(html, "waiting-queue") == (2, "€53.00")
    statement_id = db.session.scalar(select(StatementLine.statement_id))
    # One click from the statement to its review.
    assert f'href="/matching/?statement={statement_id}"' in html
    queue = clerk.get(f"/matching/?statement={statement_id}").get_data(as_text=True)
    assert 'id="queue-total">2<' in queue
    yesterday = clerk.get("/cash/?day=2001-01-01").get_data(as_text=True)
    assert 'id="no-statements"' in yesterday
    assert clerk.get("/cash/?day=nonsense").status_code == 200


def test_accepting_a_suggestion_in_one_click(clerk, invoices):
    _upload(clerk, _statement(invoices))
    line = db.session.scalar(select(StatementLine).where(StatementLine.status == "suggested"))
    page = clerk.get("/matching/").get_data(as_text=True)
    assert f'action="/matching/line/{line.id}/accept"' in page
    response = clerk.post(f"/matching/line/{line.id}/accept",
                          data={"csrf_token": csrf_token(page), "next": "/matching/"})
    assert response.status_code == 302
    line = fresh(line)
    assert line.status == "matched" and line.reviewed_at is not None
    assert (fresh(invoices[1]).status, fresh(invoices[1]).open_amount) == ("partially_paid",
                                                                           D("230.00"))
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "manual_match"))
    assert event.entity == "allocation" and event.actor == "ar_clerk"
    assert event.customer_id == invoices[1].customer_id


def test_manual_match_with_ranked_suggestions(clerk, customer, invoices):
    _upload(clerk, _statement(invoices))
    line = db.session.scalar(select(StatementLine).where(StatementLine.amount == D("33.00")))
    page = clerk.get(f"/matching/line/{line.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="manual-match"' in html
    before = state()
    refused = clerk.post(f"/matching/line/{line.id}/match", data={
        "csrf_token": "nope", "customer_number": customer.number,
        "invoices": invoices[2].number})
    assert refused.status_code == 400 and state() == before
    wrong = clerk.post(f"/matching/line/{line.id}/match", data={
        "csrf_token": csrf_token(html), "customer_number": customer.number,
        "invoices": f"{invoices[2].number} 50,00"})
    assert wrong.status_code == 400
    assert "more than the" in wrong.get_data(as_text=True)  # 50 > 33 left on the payment
    assert state() == before
    done = clerk.post(f"/matching/line/{line.id}/match", data={
        "csrf_token": csrf_token(html), "customer_number": customer.number,
        "invoices": f"{invoices[2].number} 33,00", "note": "phoned the customer"})
    assert done.status_code == 302
    assert (fresh(invoices[2]).status, fresh(invoices[2]).open_amount) == ("partially_paid",
                                                                           D("47.00"))
    assert fresh(line).status == "matched" and fresh(line).match_rule == "manual"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "manual_match"))
    assert "phoned the customer" in event.detail
    assert event.changed_fields == ["payment_id", "invoice_id", "amount"]


def test_undo_an_allocation_from_the_back_office(clerk, invoices):
    _upload(clerk, _statement(invoices))
    allocation = db.session.scalar(select(Allocation))
    listing = clerk.get("/allocationview/list/").get_data(as_text=True)
    assert f'href="/matching/allocation/{allocation.id}/undo"' in listing
    page = clerk.get(f"/matching/allocation/{allocation.id}/undo").get_data(as_text=True)
    missing = clerk.post(f"/matching/allocation/{allocation.id}/undo",
                         data={"csrf_token": csrf_token(page), "reason": ""})
    assert missing.status_code == 400 and fresh(allocation).reversed_at is None
    response = clerk.post(f"/matching/allocation/{allocation.id}/undo",
                          data={"csrf_token": csrf_token(page), "reason": "wrong customer"})
    assert response.status_code == 302
    assert fresh(allocation).reversed_at is not None
    assert fresh(invoices[0]).status == "open"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "undo"))
    assert event.entity == "allocation" and event.entity_id == str(allocation.id)
    assert event.changed_fields == ["reversed_at", "reversal_reason"]
    assert "wrong customer" in event.detail and event.actor == "ar_clerk"
    # Nothing left allocated: the line is back in the queue.
    line = db.session.scalar(select(StatementLine).where(StatementLine.amount == D("121.00")))
    assert line.status == "unmatched" and fresh(line.payment).customer_id is None


def test_read_only_sees_the_cash_screen_but_changes_nothing(app, staff_client, invoices):
    clerk = staff_client("AR clerk")
    _upload(clerk, _statement(invoices))
    line = db.session.scalar(select(StatementLine).where(StatementLine.status == "suggested"))
    viewer = staff_client("Read-only")
    assert viewer.get("/cash/").status_code == 200
    assert viewer.get("/matching/").status_code == 200
    page = viewer.get(f"/matching/line/{line.id}").get_data(as_text=True)
    assert 'id="manual-match"' not in page
    token = session_csrf(app, viewer)
    before = state()
    assert viewer.post(f"/matching/line/{line.id}/accept",
                       data={"csrf_token": token}).status_code == 403
    assert viewer.get("/statements/import").status_code == 403
    assert viewer.post("/statements/import", data={"csrf_token": token}).status_code == 403
    assert state() == before
