"""The matching queue's rules as services (app.payments.incoming.queue and .cash): what waits,
what a person may set aside or mark reviewed, and the cash screen's buckets — the same answers
whether the back office, a CLI or a job asks."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from app.core.time import business_today
from app.core.validation import ValidationError
from app.extensions import db
from app.payments.incoming import cash, queue
from app.payments.incoming.importing import import_statement
from app.payments.incoming.models import StatementLine
from app.payments.incoming.picking import Pick, confirm_pick
from tests.helpers import make_staff_user
from tests.payments.statements.builders import Entry, Tx, camt053
from tests.payments.statements.conftest import fresh, state


@pytest.fixture
def staff_user(app):
    return make_staff_user(app, "AR clerk")


def _import(invoices, statement_id="Q1"):
    """One line booked by its structured reference, one suggested by an invoice number in the
    text (a partial amount), one nobody can place, and a direct debit that came back."""
    data = camt053([
        Entry("121.00", ref="1", txs=[Tx(strd=[(invoices[0].structured_reference, "SCOR",
                                                 "BBA")], iban=None)]),
        Entry("20.00", ref="2", txs=[Tx(ustrd=[f"acompte {invoices[1].number}"], iban=None)]),
        Entry("33.00", ref="3", txs=[Tx(ustrd=["?"], name="Unknown payer", iban=None)]),
        Entry("40.00", ref="4", credit=False, reversal=True, family=("PMNT", "IDDT", "UPDD"),
              txs=[Tx(end_to_end="NOT-OURS", return_reason="MD06", iban=None)]),
    ], statement_id=statement_id)
    report = import_statement(data, f"{statement_id}.xml")
    assert report.ok, report.error
    return {line.free_text or line.structured_reference or "return": line
            for line in db.session.scalars(select(StatementLine))}


def _line(status=None, kind="payment"):
    query = select(StatementLine).where(StatementLine.kind == kind)
    if status:
        query = query.where(StatementLine.status == status)
    return db.session.scalars(query.order_by(StatementLine.id)).first()


def test_the_queue_holds_waiting_lines_and_unreviewed_returns(invoices):
    _import(invoices)
    page = queue.queue_page()
    kinds = sorted((line.kind, line.status) for line in page.lines)
    assert page.total == 3 and page.pages == 1
    assert ("payment", "suggested") in kinds and ("payment", "unmatched") in kinds
    assert any(kind == "return" for kind, _status in kinds)
    only_suggested = queue.queue_page(status="suggested")
    assert [line.status for line in only_suggested.lines] == ["suggested"]
    # A status that is not a queue status does not filter (nor fail).
    assert queue.queue_page(status="nonsense").total == 3
    assert queue.queue_page(page=-4).page == 1


def test_setting_a_waiting_line_aside(invoices, staff_user):
    _import(invoices)
    line = _line("unmatched")
    queue.ignore_line(line, staff_user)
    db.session.commit()
    line = fresh(line)
    assert line.status == "ignored" and line.reviewed_by_id == staff_user.id
    assert line.id not in {waiting.id for waiting in queue.queue_page().lines}


def test_a_booked_line_cannot_be_set_aside(invoices, staff_user):
    _import(invoices)
    matched = _line("matched")
    before = state()
    with pytest.raises(ValidationError) as refused:
        queue.ignore_line(matched, staff_user)
    assert "waiting" in str(refused.value.errors)
    db.session.rollback()
    assert state() == before and fresh(matched).status == "matched"


def test_a_line_partly_picked_must_be_undone_before_it_is_set_aside(customer, invoices,
                                                                    staff_user):
    _import(invoices)
    line = _line("unmatched")
    # 33.00 picked by hand onto the 80.00 invoice: allocated, yet the line may still wait.
    confirm_pick(line=line, customer_id=customer.id,
                 picks=[Pick(invoices[2].id, D("80.00"), D("10.00"))], user=staff_user)
    db.session.commit()
    line = fresh(line)
    if line.status in queue.WAITING:
        with pytest.raises(ValidationError) as refused:
            queue.ignore_line(line, staff_user)
        assert "Undo its allocations first" in str(refused.value.errors)
    else:  # booked by the pick: not waiting any more, so not settable aside either
        with pytest.raises(ValidationError):
            queue.ignore_line(line, staff_user)


def test_marking_a_return_reviewed_takes_it_out_of_the_queue(invoices, staff_user):
    _import(invoices)
    returned = _line(kind="return")
    assert returned.reviewed_at is None
    queue.mark_reviewed(returned, staff_user)
    db.session.commit()
    assert fresh(returned).reviewed_at is not None
    assert returned.id not in {line.id for line in queue.queue_page().lines}


def test_a_suggestion_that_is_gone_is_refused_with_a_message(invoices):
    _import(invoices)
    line = _line("suggested")
    assert [i.number for i in queue.chosen_suggestion(line, "0").invoices] == [invoices[1].number]
    for gone in ("99", "x", "-100"):
        with pytest.raises(ValidationError):
            queue.chosen_suggestion(line, gone)


def test_the_line_page_context_points_at_the_best_customer(customer, invoices):
    _import(invoices)
    found = queue.line_context(_line("suggested"))
    assert found.best_customer_number == customer.number
    assert found.amount == D("20.00") and found.suggestions


def test_the_cash_day_buckets_add_up(invoices):
    _import(invoices)
    day = cash.cash_day(business_today())
    assert len(day.statements) == 1
    # Amounts per currency (issue 15: francs are never added to euros).
    assert (day.totals["matched"].count, day.totals["matched"].amounts) == (1, {"EUR": D("121.00")})
    assert (day.totals["suggested"].count, day.totals["suggested"].amounts) == (
        1, {"EUR": D("20.00")})
    assert (day.totals["unmatched"].count, day.totals["unmatched"].amounts) == (
        1, {"EUR": D("33.00")})
    assert day.totals["returns_open"].count == 1
    # the return waits too (with the 20.00 and 33.00 lines) until someone reviews it
    assert day.waiting.count == 3 and day.waiting.amounts == {"EUR": D("13.00")}
    assert cash.cash_day(date(2001, 1, 1)).statements == []


@pytest.mark.parametrize("kind,status,bucket", [
    ("return", "matched", "returns"), ("return", "unmatched", "returns_open"),
    ("debit", "new", "ignored"), ("payment", "ignored", "ignored"),
    ("payment", "matched", "matched"), ("payment", "duplicate", "unmatched")])
def test_each_line_falls_in_one_bucket(kind, status, bucket):
    assert cash.bucket_of(kind, status) == bucket
